"""Text cleanup before measuring (every language) and Vietnamese spelling, on hand-made and real text."""

from __future__ import annotations

import unicodedata

import pytest

from sieve.filters.base import run_filters
from sieve.filters.extract import decode_html, extract_text
from sieve.filters.normalize import CleanText, Normalize, clean_text
from sieve.flows.tools.evaluate import shingles
from sieve.schemas.config import ConfigError, load_config
from sieve.schemas.document import Document
from sieve.transforms.warc import read_warc
from tests.conftest import write_config

ALL = load_config().normalize.cleanup
LOOKALIKES = ("quotes", "dashes", "ellipsis", "fullwidth")

CASES = [
    # control characters: deleted, ANSI escapes lose their ESC
    ("Hello\x00 wor\x07ld\x1b[0m done\x7f\x9b", "Hello world[0m done"),
    ("line one\r\nline two\rline three\x0bfour", "line one\nline two\nline three\nfour"),
    ("col1\tcol2", "col1 col2"),
    # zero-width characters and the soft hyphen split words invisibly
    ("ex\u00adam\u200bple\ufeff text\u2060", "example text"),
    ("Hà\u200b Nội\u00ad", "Hà Nội"),
    # whitespace: Unicode spaces, runs, trailing spaces, blank lines, ends
    ("a\u00a0b\u202fc\u3000d\u2009e\u2003f", "a b c d e f"),
    ("  too    many   spaces  ", "too many spaces"),
    ("para one  \n \n\n\n\npara two\u2029three", "para one\n\npara two\n\nthree"),
    # look-alikes: curly quotes, dashes, ellipsis, fullwidth forms
    ("“Quoted” and ‘single’ „low‟ — don’t", '"Quoted" and \'single\' "low" — don\'t'),
    ("1990–2000, −5 °C, e‑mail, co‐op, 555‒0100, ―Yes", "1990-2000, -5 °C, e-mail, co-op, 555-0100, —Yes"),
    ("Wait… what", "Wait... what"),
    ("ＡＢＣ１２３！（ｘ）", "ABC123!(x)"),
    # Vietnamese: diacritics untouched, only the noise around them changes
    ("Tôi\u00a0yêu “Hà Nội”…  Phở\u200b ngon –\tthật!", 'Tôi yêu "Hà Nội"... Phở ngon - thật!'),
]


@pytest.mark.parametrize("raw, clean", CASES)
def test_cleanup_rewrites_noise_into_plain_text(raw, clean):
    assert clean_text(raw, ALL) == clean


@pytest.mark.parametrize("raw", [raw for raw, _ in CASES])
def test_cleanup_is_idempotent(raw):
    once = clean_text(raw, ALL)
    assert clean_text(once, ALL) == once


@pytest.mark.parametrize(
    "text",
    [
        "Tiếng Việt có sáu thanh: ngang, huyền, sắc, hỏi, ngã, nặng — Đường đến trường, khuỷu tay, nghiêng ngả, ỷ lại.",
        "«Bonjour», dit-il. Next page »",  # guillemets stay: not look-alikes, and often arrows
        "Il était une fois — em dashes keep their meaning.",
        "Price: 5 € / 3 £ / ¥100 — 50% off; a ≤ b ≥ c; ½ cup; naïve café; straße",
    ],
)
def test_text_without_noise_is_unchanged_and_stays_nfc(text):
    assert clean_text(text, ALL) == text == unicodedata.normalize("NFC", text)


def test_a_deleted_character_cannot_leave_the_text_out_of_nfc():
    assert clean_text("ca\u00ad\u0301 phe\u200b\u0302", ALL) == "cá phê"


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "👨\u200d👩\u200d👧 family, 🏳\ufe0f\u200d🌈 flag",
            "👨\u200d👩\u200d👧 family, 🏳\ufe0f\u200d🌈 flag",
        ),  # emoji sequences
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian: ZWNJ is part of the spelling
        ("क्\u200dष", "क्\u200dष"),  # Devanagari: ZWJ selects the half form
        ("Auf\u200clage and word\u200d \u200dnext", "Auflage and word next"),  # Latin: only a ligature hint
        ("Quy\u200c định", "Quy định"),
    ],
)
def test_joiners_are_kept_in_emoji_and_other_scripts_and_dropped_next_to_latin_letters(raw, clean):
    assert clean_text(raw, ALL) == clean


def test_code_keeps_its_indentation_and_loses_only_trailing_noise():
    code = "def f(x):\n    if x:\n        return x  # two spaces   \n\n\n\n    return 0\t"
    assert clean_text(code, ALL) == "def f(x):\n    if x:\n        return x # two spaces\n\n    return 0"


@pytest.mark.parametrize(
    "group, raw",
    [
        ("control_chars", "a\x07b"),
        ("zero_width", "a\u200bb"),
        ("whitespace", "a\u00a0 b"),
        ("quotes", "“a”"),
        ("dashes", "a–b"),
        ("ellipsis", "a…"),
        ("fullwidth", "ＡＢ"),
    ],
)
def test_each_cleanup_group_can_be_switched_off(tmp_path, group, raw):
    off = load_config(write_config(tmp_path / "c.yaml", f"normalize:\n  cleanup:\n    {group}: false\n"))
    assert getattr(off.normalize.cleanup, group) is False and off.hash != load_config().hash
    assert off.normalize.vietnamese_tone_style == load_config().normalize.vietnamese_tone_style
    doc = Document(warc_file="t.warc.gz", warc_offset=0, text=raw)
    run_filters(doc, [CleanText(off)])
    assert doc.text == raw
    assert clean_text(raw, ALL) != raw


def test_unknown_cleanup_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="key 'normalize.cleanup.emoji': unknown key"):
        load_config(write_config(tmp_path / "c.yaml", "normalize:\n  cleanup:\n    emoji: true\n"))


def test_a_page_of_invisible_characters_is_dropped_as_empty():
    doc = Document(warc_file="t.warc.gz", warc_offset=0, text="\u200b\u00ad \u00a0\n\u2060")
    drop = run_filters(doc, [CleanText(load_config())])
    assert (drop.stage, drop.reason) == ("clean_text", "empty_text") and doc.text == ""


# Written in both i/y styles on purpose: the press's (kỹ, lý, Mỹ) and the school books' (kĩ, lí, mĩ).
I_Y_SENTENCES = [
    "Kỹ sư nói kĩ thuật mới giúp rèn kỹ năng; lý do và lí do đều được nêu trong môn vật lí.",
    "Nước Mỹ, mĩ thuật và thẩm mỹ; quý khách, quí vị; bác sỹ và bác sĩ; tỷ lệ và tỉ lệ; hy vọng, hi vọng.",
    "Vua Lý Thái Tổ dời đô; Thổ Nhĩ Kỳ và Hy Lạp; cầm cái ly, không sai một li.",
]


@pytest.mark.parametrize("sentence", I_Y_SENTENCES)
@pytest.mark.parametrize("style", ["old", "new"])
def test_vietnamese_i_y_spellings_are_left_as_written(tmp_path, sentence, style):
    cfg = load_config(write_config(tmp_path / "c.yaml", f"normalize:\n  vietnamese_tone_style: {style}\n"))
    doc = Document(warc_file="t.warc.gz", warc_offset=0, text=sentence, language="vi")
    run_filters(doc, [CleanText(cfg), Normalize(cfg)])
    assert doc.text == sentence


def real_pages(data_dir) -> list[str]:
    cfg = load_config()
    return [
        extract_text(cfg.extract, decode_html(item.doc.payload, item.doc.http_charset))
        for item in read_warc(str(data_dir / "articles-sample.warc.gz"), cfg.read.max_payload_bytes)
    ]


def kept_share(before: str, after: str) -> float:
    """Share of before's word 4-gram shingles that are still in after."""
    a = shingles(before)
    return sum((a & shingles(after)).values()) / max(sum(a.values()), 1)


def test_cleanup_keeps_the_words_of_real_pages(data_dir):
    pages = real_pages(data_dir)
    lookalikes_only = ALL.model_copy(update={k: k in LOOKALIKES for k in type(ALL).model_fields})
    structure_only = ALL.model_copy(update={k: False for k in LOOKALIKES})
    assert len(pages) == 12
    for text in pages:
        cleaned = clean_text(text, ALL)
        assert clean_text(cleaned, ALL) == cleaned
        # Deleting invisibles and fixing whitespace must keep the words; the look-alikes change characters
        # inside words (don’t -> don't), so those shingles are compared with their look-alikes mapped.
        assert kept_share(text, clean_text(text, structure_only)) >= 0.99
        assert kept_share(clean_text(text, lookalikes_only), cleaned) >= 0.99

"""The toxicity stage (filters/toxicity.py): shipped lists, phrase matching, the English model, drops and the bias flag."""
from __future__ import annotations

import random

import pytest

from sieve.filters.base import build_filters
from sieve.filters.toxicity import Toxicity
from sieve.flows.synth.banks import load_bank
from sieve.flows.synth.text import build_article
from sieve.schemas.config import load_config
from sieve.schemas.document import Document
from sieve.transforms.warc import read_warc
from tests.conftest import write_config

NORMAL_VI = "Hội đồng nhân dân thành phố đã thông qua kế hoạch mở rộng tuyến xe buýt. " * 6


@pytest.fixture(scope="module")
def stage():
    return Toxicity(load_config())


def signals(stage, text, lang):
    doc = Document(warc_file="t", warc_offset=0, text=text, language=lang)
    return stage.annotate(doc), doc


@pytest.mark.parametrize("text", ["đm", "dm", "vcl", "dcm", "đcm", "óc chó", "oc cho", "đồ ngu", "do ngu", "khốn nạn",
                                  "khon nan", "mất dạy", "ngu như bò"])
def test_vietnamese_terms_with_and_without_diacritics_and_evasions(stage, text):
    s, _ = signals(stage, f"{NORMAL_VI} Thằng kia {text} thật.", "vi")
    assert s["toxic_words"] == len(text.split())


def test_multi_syllable_terms_match_only_as_phrases(stage):
    s, _ = signals(stage, "Con chó nhà tôi thích ăn óc lợn luộc. Tôi ngủ sớm.", "vi")
    assert s["toxic_words"] == 2  # "óc lợn" as a phrase; "chó" (dog) and "ngủ" (sleep) alone are not toxic


def test_toxic_sentence_inside_a_normal_article_is_dropped_in_both_languages(stage):
    en = ("The council approved the budget on Tuesday after a long debate. " * 15
          + "You are a pathetic idiot, a worthless moron, shut up.")
    vi = NORMAL_VI * 2 + "Câm mồm đi thằng khốn, lũ óc chó chúng mày."
    for text, lang in ((en, "en"), (vi, "vi")):
        s, doc = signals(stage, text, lang)
        drop = stage.decide(doc, s)
        assert drop is not None and drop.reason == "toxicity"
    assert signals(stage, en, "en")[0]["profanity"] > 0.9 and signals(stage, vi, "vi")[0]["profanity"] is None


def test_planted_toxic_documents_are_dropped_and_clean_ones_kept(stage):
    rng = random.Random(11)
    for lang in ("en", "vi"):
        bank = load_bank(lang)
        toxic = [build_article(bank, rng, with_pii=False, with_toxic=True).body_text for _ in range(150)]
        clean = [build_article(bank, rng, with_pii=False, with_toxic=False).body_text for _ in range(300)]
        assert dropped(stage, toxic, lang) >= 0.9 * len(toxic), lang
        assert dropped(stage, clean, lang) < 0.02 * len(clean), lang


def dropped(stage, texts, lang):
    total = 0
    for text in texts:
        s, doc = signals(stage, text, lang)
        total += stage.decide(doc, s) is not None
    return total


def test_real_article_pages_are_not_dropped(data_dir):
    cfg = load_config()
    filters = build_filters(cfg)
    upto = [f for f in filters if f.stage in ("response", "extract", "clean_text", "language_id", "normalize")]
    stage = next(f for f in filters if f.stage == "toxicity")
    checked = 0
    for item in read_warc(str(data_dir / "articles-sample.warc.gz"), cfg.read.max_payload_bytes):
        doc = item.doc
        if all(f.decide(doc, f.annotate(doc)) is None for f in upto):
            checked += 1
            assert stage.decide(doc, stage.annotate(doc)) is None, doc.url
    assert checked >= 10


def test_bias_flag_marks_identity_terms_with_negative_terms_and_does_not_drop(stage):
    s, doc = signals(stage, "Immigrants are criminals. Immigrants are dangerous and lazy. The weather was fine.", "en")
    assert s["bias"] and s["identity_sentences"] == 2 and stage.decide(doc, s) is None
    s, _ = signals(stage, "Immigrants opened new shops. Immigrants pay taxes. Immigrants are dangerous, a poll claimed.", "en")
    assert not s["bias"]


def test_lists_are_extensible_by_config(tmp_path):
    (tmp_path / "extra.txt").write_text("# site slang\n== toxic\nzorkhead\n", encoding="utf-8")
    cfg = load_config(write_config(tmp_path / "c.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      en: [{tmp_path / 'extra.txt'}]\n"))
    s, _ = signals(Toxicity(cfg), "Only a zorkhead would say that.", "en")
    assert s["toxic_words"] == 1
    (tmp_path / "bad.txt").write_text("zorkhead\n", encoding="utf-8")
    cfg = load_config(write_config(tmp_path / "b.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      vi: [{tmp_path / 'bad.txt'}]\n"))
    with pytest.raises(ValueError, match="bad.txt"):
        Toxicity(cfg)

"""Normalization of the extracted text: one form per character and per spelling, so measures, dedup and models agree.

Two stages share this module because they do one job at two points of the pipeline:
- CleanText, right after extraction, for every document: control and zero-width characters, whitespace and
  typographic look-alikes (quotes, dashes, ellipsis, fullwidth forms). It needs no language, and language id
  gets the cleaner text.
- Normalize, after language id: per-language spelling. Vietnamese writes the tone of "oa", "oe", "uy" at the
  end of a syllable in two styles: old (hòa, khỏe, thủy) and new (hoà, khoẻ, thuỷ). Both are common on the
  web; the configured style is applied to Vietnamese documents. Syllables with a final consonant (hoàng,
  khoẻo) or "qu" (quý) are spelled the same in both styles.

Vietnamese i/y variants (kỹ/kĩ, lý/lí, mỹ/mĩ, tỷ/tỉ, quý/quí, hy/hi) are deliberately left as written. Unlike
tone placement, a mechanical rule on syllables, i/y is a choice per word: both spellings are standard (the press
writes kỹ thuật, lý do; school books since the 1984 rule write kĩ thuật, lí do), proper names keep their own
(Mỹ, Lý Thái Tổ, Thổ Nhĩ Kỳ, Hy Lạp), and some pairs are different words (ly "glass", li "a tiny bit"). A
rewrite would need a dictionary and would still put words in authors' mouths, while copies of one text keep its
spelling, so dedup is not split by it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from sieve.schemas.config import CleanupConfig, Config
from sieve.schemas.document import Document, Drop

# Cleanup groups, each switched by a key of normalize.cleanup: code point -> replacement, None deletes.
# Tab, CR, VT, FF and NEL are controls that mean whitespace, so the whitespace group owns them.
_WHITESPACE_CONTROLS = {0x09: " ", 0x0B: "\n", 0x0C: "\n", 0x0D: "\n", 0x85: "\n"}
_CONTROL_CHARS = {
    cp: None for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if cp != 0x0A and cp not in _WHITESPACE_CONTROLS
}
# Zero-width space, word joiner, byte-order mark and soft hyphen are invisible and split words ("ex\u00adample").
# ZWNJ/ZWJ (U+200C/D) are not here: they spell Persian and Indic words and join emoji; see _LATIN_JOINERS.
_ZERO_WIDTH = dict.fromkeys((0x200B, 0x2060, 0xFEFF, 0x00AD))
_SPACES = {cp: " " for cp in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)}
_WHITESPACE = {**_WHITESPACE_CONTROLS, **_SPACES, 0x2028: "\n", 0x2029: "\n\n"}
# Guillemets « » stay: they look different, are the quotes of French or Russian, and on the web often serve as
# arrows ("Next »") that would become stray quotes.
_QUOTES = {**dict.fromkeys(map(ord, "‘’‚‛"), "'"), **dict.fromkeys(map(ord, "“”„‟"), '"')}
# Hyphens, figure dash, en dash and minus sign are typed as "-" by most writers; the em dash is a different
# mark (typed "--"), so it stays, and the horizontal bar, its look-alike, becomes it.
_DASHES = {**dict.fromkeys(map(ord, "‐‑‒–−"), "-"), ord("―"): "—"}
_ELLIPSIS = {ord("…"): "..."}  # Gopher's ellipsis ratio counts both forms; one form keeps dedup hashes equal
# Fullwidth ASCII (ＡＢＣ１２３！) as NFKC maps it, for the default NFC; a CJK corpus may switch it off.
_FULLWIDTH = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}

# Next to a Latin letter ZWNJ/ZWJ only steer ligatures (German "Auf\u200clage"), so they go; between emoji or
# in other scripts they are kept.
_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_LATIN_JOINERS = re.compile(f"(?<=[{_LATIN}])[\u200c\u200d]+|[\u200c\u200d]+(?=[{_LATIN}])")
_TRAILING_SPACES = re.compile(r" +\n")
_BLANK_LINES = re.compile(r"\n{3,}")
# Runs inside a line only: leading indentation carries the structure of code and verse.
_INNER_SPACES = re.compile(r"(?<=\S) {2,}")


@lru_cache(maxsize=8)
def _replacements(groups: CleanupConfig) -> tuple[re.Pattern[str], dict[str, str]]:
    """A pattern matching any character the switched-on groups change, and each one's replacement; built once."""
    table: dict[str, str] = {}
    for on, part in (
        (groups.control_chars, _CONTROL_CHARS),
        (groups.zero_width, _ZERO_WIDTH),
        (groups.whitespace, _WHITESPACE),
        (groups.quotes, _QUOTES),
        (groups.dashes, _DASHES),
        (groups.ellipsis, _ELLIPSIS),
        (groups.fullwidth, _FULLWIDTH),
    ):
        if on:
            table.update({chr(cp): new or "" for cp, new in part.items()})
    return re.compile(f"[{re.escape(''.join(sorted(table)))}]" if table else "(?!)"), table


def clean_text(text: str, groups: CleanupConfig, unicode_form: str = "NFC") -> str:
    """Text with the switched-on cleanup groups applied, back in unicode_form; idempotent."""
    # Not str.translate: on non-ASCII text it looks every character up in a dict (37 us/KB on the 181 real
    # article pages), while the regex skips to the few characters that change (4.5 us/KB). The whole cleanup:
    # 13 us/KB there, 60 us a page against 18 ms for trafilatura; language id changes on none of the pages.
    pattern, table = _replacements(groups)
    if groups.whitespace:
        text = text.replace("\r\n", "\n")
    text = pattern.sub(lambda m: table[m.group()], text)
    if groups.zero_width and ("\u200c" in text or "\u200d" in text):
        text = _LATIN_JOINERS.sub("", text)
    if groups.whitespace:  # each regex only where its cheap substring test finds work
        if " \n" in text:
            text = _TRAILING_SPACES.sub("\n", text)
        if "\n\n\n" in text:
            text = _BLANK_LINES.sub("\n\n", text)
        if "  " in text:
            text = _INNER_SPACES.sub(" ", text)
        text = text.strip()
    # A deleted or mapped character can leave a combining mark next to a new base ("a\u00ad\u0301").
    return text if unicode_form == "none" else unicodedata.normalize(unicode_form, text)


class CleanText:
    """Cleans doc.text for every language, right after extraction; drops a page left with nothing visible."""

    stage = "clean_text"

    def __init__(self, cfg: Config) -> None:
        self.groups = cfg.normalize.cleanup
        self.unicode_form = cfg.extract.unicode_form
        self.min_chars = cfg.extract.min_chars

    def annotate(self, doc: Document) -> dict[str, Any]:
        doc.text = clean_text(doc.text or "", self.groups, self.unicode_form)
        return {}

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        n = len(doc.text or "")
        if n < self.min_chars:
            return Drop(self.stage, "empty_text", f"{n} chars after cleanup < extract.min_chars={self.min_chars}")
        return None


_TONES = "\u0300\u0301\u0309\u0303\u0323"  # huyền, sắc, hỏi, ngã, nặng


def _pairs() -> dict[str, str]:
    """new-style -> old-style spellings of the two-vowel endings, in lower and upper case."""
    pairs = {}
    for first, second in (("o", "a"), ("o", "e"), ("u", "y")):
        for tone in _TONES:
            new = first + unicodedata.normalize("NFC", second + tone)
            old = unicodedata.normalize("NFC", first + tone) + second
            for f in (str.lower, str.upper, str.capitalize):
                pairs[f(new)] = f(old)
    return pairs


_NEW_TO_OLD = _pairs()
_OLD_TO_NEW = {old: new for new, old in _NEW_TO_OLD.items()}
# The ending must close the syllable (no letter after it) and not follow "q" (in "quý" the u is consonantal).
_END = r"(?<![qQ])({})(?![^\W\d_])"
_PATTERNS = {
    style: re.compile(_END.format("|".join(sorted(table, key=len, reverse=True))))
    for style, table in (("old", _NEW_TO_OLD), ("new", _OLD_TO_NEW))
}


def vietnamese_tone_style(text: str, style: str) -> str:
    """Rewrite the tone placement of syllable-final oa/oe/uy in NFC text to style 'old' (hòa) or 'new' (hoà)."""
    table = _NEW_TO_OLD if style == "old" else _OLD_TO_NEW
    return _PATTERNS[style].sub(lambda m: table[m.group(1)], text)


class Normalize:
    """Rewrites doc.text into the configured spelling for its language; never drops."""

    stage = "normalize"

    def __init__(self, cfg: Config) -> None:
        self.tone_style = cfg.normalize.vietnamese_tone_style

    def annotate(self, doc: Document) -> dict[str, Any]:
        if doc.language == "vi" and self.tone_style != "keep" and doc.text:
            doc.text = vietnamese_tone_style(doc.text, self.tone_style)
        return {}

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        return None


def as_scrubbed(text: str, language: str, cfg: Config) -> str:
    """A raw text the way the pipeline hands it to the PII scrubber: cleaned (CleanText) and normalized for its
    language. For evaluation sets written as raw text (an OCR'd form's "thôn  Đại  Lộc ,  xã" is scrubbed as "thôn
    Đại Lộc , xã"), and for the values listed beside them."""
    cleaned = clean_text(text, cfg.normalize.cleanup, cfg.extract.unicode_form)
    doc = Document(warc_file="", warc_offset=0, text=cleaned, language=language)
    Normalize(cfg).annotate(doc)
    return doc.text or ""

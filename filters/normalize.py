"""Per-language text normalization after language id: one spelling per word, so dedup and language models agree.

Vietnamese writes the tone of "oa", "oe", "uy" at the end of a syllable in two styles: old (hòa, khỏe, thủy)
and new (hoà, khoẻ, thuỷ). Both are common on the web; the configured style is applied to Vietnamese documents.
Syllables with a final consonant (hoàng, khoẻo) or "qu" (quý) are spelled the same in both styles.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

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
_PATTERNS = {style: re.compile(_END.format("|".join(sorted(table, key=len, reverse=True))))
             for style, table in (("old", _NEW_TO_OLD), ("new", _OLD_TO_NEW))}


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

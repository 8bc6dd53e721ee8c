"""ASCII folding for URLs and e-mail addresses built from Vietnamese/European text."""

from __future__ import annotations

import re
import unicodedata

# Letters that do not decompose into an ASCII letter plus diacritics.
_LETTERS = str.maketrans(
    {"đ": "d", "Đ": "D", "ß": "ss", "œ": "oe", "Œ": "Oe", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O"}
)


def ascii_fold(text: str) -> str:
    """ASCII for URLs and e-mail addresses: diacritics stripped (ệ -> e, đ -> d), other non-ASCII characters dropped."""
    return unicodedata.normalize("NFD", text.translate(_LETTERS)).encode("ascii", "ignore").decode("ascii")


def slugify(text: str, limit: int = 70) -> str:
    """URL slug of a title."""
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")
    return slug[:limit].rstrip("-") or "page"

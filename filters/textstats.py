"""Lines, paragraphs and words of a text, computed once and shared by the quality stages that measure them.

The stats are cached on the text itself, so four stages tokenize a document once; a stage that rewrites doc.text
(c4's line cleanup) gets fresh stats for the new text on the next call, without any invalidation.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import repeat

# A word is a whitespace token without the punctuation around it ("(don't," -> "don't"); tokens that are only
# punctuation ("-", "|") are not words. Vietnamese syllables are words here.
_PUNCTUATION = string.punctuation + "«»“”‘’‚„‹›—–…•·¡¿"
_PUNCTUATION += "。，、！？：；（）【】「」"  # CJK
# A whitespace token with no letter: numbers, symbols ("2019", "3.5%", "--", "|").
_NON_ALPHA_TOKEN = re.compile(r"(?<!\S)(?:[^\s\w]|[\d_])+(?!\S)")
# A token that is only an operator ("=", "+", "−", "≤", "→"), or a dash or dot bullet opening a line: a formula's
# glue or a list mark, not a word. A dash inside a line stays a token ("Top stories - Page 2" is a link list).
# Two searches, each led by its characters so re skips to them in C (a leading lookbehind was tried at every
# position: 4x the time); they never match the same character.
_OPERATOR_TOKEN = re.compile(r"[=+−×÷±<>≤≥≠≈→/·*^](?<!\S.)[=+−×÷±<>≤≥≠≈→/·*^]*(?!\S)")
_BULLET_TOKEN = re.compile(r"^[\-–—•](?=\s)", re.MULTILINE)  # "·" and "*" are operator tokens already
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends at a run of . ! ? (then maybe a closing quote or bracket) followed by whitespace or the end.
SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")


@dataclass(frozen=True)
class TextStats:
    """Measures of one text that several stages read; each is computed on first use."""

    text: str

    @cached_property
    def lines(self) -> list[str]:
        """Non-blank lines, stripped."""
        return [line for line in (raw.strip() for raw in self.text.split("\n")) if line]

    @cached_property
    def paragraphs(self) -> list[str]:
        """Blocks separated by blank lines, stripped."""
        return [p for p in (raw.strip() for raw in _PARAGRAPH_BREAK.split(self.text)) if p]

    @cached_property
    def verse(self) -> frozenset[int]:
        """Indices into lines of the lines of metered verse (verse_lines)."""
        return verse_lines(self.lines)

    @cached_property
    def words(self) -> list[str]:
        """Lowercased words in text order (Vietnamese: syllables)."""
        # split + strip run in C; a regex tokenizer costs 1.5x as much on the real article pages
        return list(filter(None, map(str.strip, self.text.lower().split(), repeat(_PUNCTUATION))))

    @cached_property
    def word_chars(self) -> int:
        """Characters in all words: the denominator of the n-gram character fractions."""
        return sum(map(len, self.words))

    @cached_property
    def n_split(self) -> int:
        """Whitespace-separated tokens, all of them."""
        return len(self.text.split())

    @cached_property
    def n_tokens(self) -> int:
        """Whitespace-separated tokens, numbers and symbols included, operators and bullets not (a maths lesson's
        "Δ = b² − 4ac" holds three words and a number, not six tokens of which two lack a letter)."""
        return self.n_split - len(_OPERATOR_TOKEN.findall(self.text)) - len(_BULLET_TOKEN.findall(self.text))

    @cached_property
    def n_alpha_tokens(self) -> int:
        """Whitespace-separated tokens that hold at least one letter."""
        return self.n_split - len(_NON_ALPHA_TOKEN.findall(self.text))


# Verse: a run of unpunctuated lines in a fixed meter. Vietnamese poems and song lyrics punctuate no line ("Quê
# hương là gì hở mẹ / Mà cô giáo dạy phải yêu"), so C4's sentence count and FineWeb's line rules read them as a menu.
# A verse line starts with a capital and holds only words (a comma may follow one), 4-12 of them (Vietnamese:
# syllables); the meter is a word count repeating every line (five, six or seven syllables) or every other line
# (lục bát's 6/8), for at least VERSE_MIN_LINES lines. Menus (1-3 words), tables, listings and commands (digits,
# symbols) and headline lists (counts that wander) hold none.
VERSE_MIN_LINES = 4
VERSE_WORDS = range(4, 13)
_VERSE_LINE = re.compile(r"[^\W\d_][^\W\d_']*[,;:]?(?: [^\W\d_][^\W\d_']*[,;:]?)*")


def _verse_words(line: str) -> int:
    """The line's word count if it can be a line of verse, else 0."""
    words = line.split()
    if len(words) not in VERSE_WORDS or not words[0][0].isupper():
        return 0
    return len(words) if _VERSE_LINE.fullmatch(" ".join(words)) else 0


def verse_lines(lines: list[str]) -> frozenset[int]:
    """Indices of the lines in a metered run of verse lines (see VERSE_MIN_LINES); one pass per period."""
    counts = [_verse_words(line) for line in lines] + [0]  # 0: not a verse line; a sentinel at the end
    found: set[int] = set()
    for period in (1, 2):
        start = 0  # the stretch start..k-1 keeps the meter: each count equals the one a period earlier
        for k, c in enumerate(counts):
            if c and (k - start < period or c == counts[k - period]):
                continue
            if k - start >= max(VERSE_MIN_LINES, 2 * period):
                found.update(range(start, k))
            start = k + 1 if not c else k - period + 1
    return frozenset(found)


@lru_cache(maxsize=4)
def text_stats(text: str) -> TextStats:
    """The stats of text, computed once however many stages ask (keyed on the text, so a rewrite gets new ones)."""
    return TextStats(text)


def duplicates(parts: list[str]) -> tuple[int, int]:
    """How many parts repeat an earlier one, and their characters (Gopher counts every copy after the first)."""
    counts = Counter(parts)
    dups = len(parts) - len(counts)
    return dups, sum(len(part) * (n - 1) for part, n in counts.items() if n > 1) if dups else 0

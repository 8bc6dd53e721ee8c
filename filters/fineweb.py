"""FineWeb's own quality rules (Penedo et al. 2024): pages made of lines that are not sentences, short lines,
repeated lines, or one-word-per-line lists, which C4 and Gopher let through. Short lines are weighed by their
characters (FineWeb counts lines): an article's headings, contents and "See also" list are many short lines but
little of its text (docs/quality-thresholds.md)."""

from __future__ import annotations

import re
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.filters.textstats import duplicates, text_stats
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

# Sentence-final marks of the Latin, CJK, Devanagari and Arabic scripts (normalization turned "…" into "...").
TERMINAL_PUNCTUATION = (".", "!", "?", "…", "。", "！", "？", "।", "؟", "۔")
# Closers after the final mark (a quote, a bracket, a table-layout pipe) do not make a line less of a sentence.
_CLOSERS = "\"')]|» "
# A sentence end inside a line, a word after it: a post or comment whose last sentence has no mark ("... lol. pushed it
# back on but its loose") is a line of sentences, which a menu, a link, a title or a form is not. A full stop counts
# after a word ending in a lowercase letter only: "TP. Hà Nội", "P. Ô Chợ Dừa", "1. Passport", "Tel. 089" are not ends.
_INNER_END = re.compile(r"(?:([^\W\d_]{2})[.…]|[!?])[\"')\]»]*\s+[\"'(«]?[^\W\d_]")


def _holds_sentence_end(line: str) -> bool:
    """Whether the line ends a sentence before its last word (see _INNER_END)."""
    return any(m[1] is None or m[1][1].islower() for m in _INNER_END.finditer(line))


class FineWeb:
    """Drops pages whose lines are mostly not sentences, mostly short, repeated, or a list of single words."""

    stage = "fineweb"

    def __init__(self, cfg: Config) -> None:
        self.thresholds = PerLanguage(cfg, "fineweb")

    def annotate(self, doc: Document) -> dict[str, Any]:
        text = doc.text or ""
        stats = text_stats(text)
        lines = stats.lines
        short = self.thresholds(doc.language).short_line_chars
        n = len(lines) or 1
        chars = len(text) - text.count("\n")
        ending = sum(
            line.rstrip(_CLOSERS).endswith(TERMINAL_PUNCTUATION) or _holds_sentence_end(line) for line in lines
        )
        # lines of verse (textstats.verse_lines) end as sentences do and are short by their meter, not as menus are
        verse = stats.verse
        short_lines = [line for i, line in enumerate(lines) if len(line) <= short and i not in verse]
        return {
            "line_punct_frac": round((ending + len(verse)) / n, 4),
            "short_line_frac": round(len(short_lines) / n, 4),
            "short_line_char_frac": round(sum(map(len, short_lines)) / chars if chars else 0.0, 4),
            "dup_line_char_frac": round(duplicates(lines)[1] / chars if chars else 0.0, 4),
            "lines_per_word": round(len(lines) / len(stats.words) if stats.words else float(len(lines)), 4),
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        lang = doc.language
        checks = (
            ("line_punct_frac", signals["line_punct_frac"] < t.min_line_punct_frac, "<", t.min_line_punct_frac),
            ("short_line_frac", _above(signals["short_line_frac"], t.max_short_line_frac), ">", t.max_short_line_frac),
            (
                "short_line_char_frac",
                _above(signals["short_line_char_frac"], t.max_short_line_char_frac),
                ">",
                t.max_short_line_char_frac,
            ),
            (
                "dup_line_char_frac",
                signals["dup_line_char_frac"] > t.max_dup_line_char_frac,
                ">",
                t.max_dup_line_char_frac,
            ),
            ("lines_per_word", signals["lines_per_word"] > t.max_lines_per_word, ">", t.max_lines_per_word),
        )
        for name, failed, op, limit in checks:
            if failed:
                return Drop(self.stage, name, f"{signals[name]} {op} {limit} ({lang})")
        return None


def _above(value: float, limit: float | None) -> bool:
    """Whether value passes a limit that null switches off."""
    return limit is not None and value > limit

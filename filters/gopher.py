"""Gopher's heuristic quality and repetition rules (Rae et al. 2021, Table A1), with per-language thresholds.

Words are the lowercased word tokens of filters/textstats.py; in Vietnamese they are syllables, which is why
Vietnamese has its own thresholds (measured in docs/quality-thresholds.md).
"""

from __future__ import annotations

import re
from itertools import count
from typing import Any

import numpy as np

from sieve.filters.base import PerLanguage
from sieve.filters.textstats import TextStats, duplicates, text_stats
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant; products wrap around modulo 2**64
_BULLETS = ("•", "-", "*", "·", "●", "▪", "‣", "◦", "–", "—")
# An ellipsis: "…", or a run of three dots or more, once ("Buồn quá......" holds one). A run of four or more that
# leads to a figure is a leader, none ("Phở tái ........ 50.000đ", a table of contents' "Chapter 3 ...... 41"): text
# .count("...") counted a price list's leaders eight at a time and dropped it (December 6, held-out round 6).
# The dot leads, so re skips to each dot in C; the lookbehind then checks that no dot came before it.
_ELLIPSES = re.compile(r"…|\.(?<!\.\.)(?:\.\.(?!\.)|\.{3,}+(?!\s*[+\-]?\d))")


def _frac(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


class GopherQuality:
    """Drops pages that are too short or long, not made of words, lists of bullets or teasers, or without stop words."""

    stage = "gopher_quality"

    def __init__(self, cfg: Config) -> None:
        self.thresholds = PerLanguage(cfg, "gopher_quality")

    def annotate(self, doc: Document) -> dict[str, Any]:
        text = doc.text or ""
        stats = text_stats(text)
        words, lines = stats.words, stats.lines
        stop_words = self.thresholds(doc.language).stop_words
        return {
            "n_words": len(words),
            "mean_word_length": round(_frac(stats.word_chars, len(words)), 4),
            "hash_word_ratio": round(_frac(text.count("#"), len(words)), 4),
            "ellipsis_word_ratio": round(_frac(len(_ELLIPSES.findall(text)), len(words)), 4),
            "bullet_lines_frac": round(_frac(sum(line.startswith(_BULLETS) for line in lines), len(lines)), 4),
            "ellipsis_lines_frac": round(_frac(sum(line.endswith(("...", "…")) for line in lines), len(lines)), 4),
            "alpha_words_frac": round(_frac(stats.n_alpha_tokens, stats.n_tokens), 4),
            "stop_words": len(set(stop_words).intersection(words)),
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        lang = doc.language
        return (
            _below(self.stage, signals, "n_words", t.min_words, lang)
            or _above(self.stage, signals, "n_words", t.max_words, lang)
            or _below(self.stage, signals, "mean_word_length", t.min_mean_word_length, lang)
            or _above(self.stage, signals, "mean_word_length", t.max_mean_word_length, lang)
            or _above(self.stage, signals, "hash_word_ratio", t.max_hash_word_ratio, lang)
            or _above(self.stage, signals, "ellipsis_word_ratio", t.max_ellipsis_word_ratio, lang)
            or _above(self.stage, signals, "bullet_lines_frac", t.max_bullet_lines_frac, lang)
            or _above(self.stage, signals, "ellipsis_lines_frac", t.max_ellipsis_lines_frac, lang)
            or _below(self.stage, signals, "alpha_words_frac", t.min_alpha_words_frac, lang)
            or _below(self.stage, signals, "stop_words", t.min_stop_words, lang)
        )


class GopherRepetition:
    """Drops pages that repeat lines, paragraphs or word n-grams: menus, keyword stuffing, templated spam."""

    stage = "gopher_repetition"

    def __init__(self, cfg: Config) -> None:
        self.thresholds = PerLanguage(cfg, "gopher_repetition")

    def annotate(self, doc: Document) -> dict[str, Any]:
        text = doc.text or ""
        stats = text_stats(text)
        signals: dict[str, Any] = {}
        for name, parts in (("line", stats.lines), ("paragraph", stats.paragraphs)):
            dups, dup_chars = duplicates(parts)
            signals[f"dup_{name}_frac"] = round(_frac(dups, len(parts)), 4)
            signals[f"dup_{name}_char_frac"] = round(_frac(dup_chars, len(text)), 4)
        t = self.thresholds(doc.language)
        signals.update(_ngram_fracs(stats, sorted(t.max_top_ngram_char_frac), sorted(t.max_dup_ngram_char_frac)))
        return signals

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        lang = doc.language
        limits = {
            "dup_line_frac": t.max_dup_line_frac,
            "dup_paragraph_frac": t.max_dup_paragraph_frac,
            "dup_line_char_frac": t.max_dup_line_char_frac,
            "dup_paragraph_char_frac": t.max_dup_paragraph_char_frac,
        }
        limits.update({f"top_{n}gram_char_frac": limit for n, limit in sorted(t.max_top_ngram_char_frac.items())})
        limits.update({f"dup_{n}gram_char_frac": limit for n, limit in sorted(t.max_dup_ngram_char_frac.items())})
        for name, limit in limits.items():
            if name in signals and (drop := _above(self.stage, signals, name, limit, lang)):
                return drop
        return None


def _ngram_fracs(stats: TextStats, top_ns: list[int], dup_ns: list[int]) -> dict[str, float]:
    """Gopher's n-gram character fractions over the words: the most frequent n-gram's share of the word
    characters (n in top_ns), and the share of word characters inside n-grams that repeat an earlier one, each
    word counted once (n in dup_ns)."""
    out = {f"top_{n}gram_char_frac": 0.0 for n in top_ns} | {f"dup_{n}gram_char_frac": 0.0 for n in dup_ns}
    words, total = stats.words, stats.word_chars
    if not words:
        return out
    # Each word becomes the index of its first occurrence; an n-gram becomes a 64-bit polynomial hash of those
    # (collisions are negligible at page sizes), so every n costs a few vectorized passes instead of a Python loop.
    first_seen: dict[str, int] = {}
    ids = np.fromiter(map(first_seen.setdefault, words, count()), dtype=np.uint64, count=len(words))
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.concatenate(([0], np.cumsum(lengths)))
    hashes = ids.copy()
    repeats = True
    for n in range(2, max(top_ns + dup_ns, default=1) + 1):
        hashes = hashes[:-1] * _HASH_BASE + ids[n - 1 :]
        if not len(hashes):
            break
        if n in top_ns:
            _, where, counts = np.unique(hashes, return_index=True, return_counts=True)
            most = counts == counts.max()  # ties go to the longest of the most frequent n-grams
            chars = int((ends[where[most] + n] - ends[where[most]]).max()) * int(counts.max())
            out[f"top_{n}gram_char_frac"] = round(chars / total, 4)
        if n in dup_ns and repeats:
            _, first = np.unique(hashes, return_index=True)
            repeats = len(first) < len(hashes)  # no repeated n-gram means no repeated longer one either
            if repeats:
                later = np.ones(len(hashes), dtype=bool)
                later[first] = False
                starts = np.flatnonzero(later)
                depth = np.cumsum(
                    np.bincount(starts, minlength=len(words) + 1)[:-1]
                    - np.bincount(starts + n, minlength=len(words) + 1)[:-1]
                )
                out[f"dup_{n}gram_char_frac"] = round(int(lengths[depth > 0].sum()) / total, 4)
    return out


def _below(stage: str, signals: dict[str, Any], name: str, limit: float, lang: str | None) -> Drop | None:
    value = signals[name]
    return Drop(stage, name, f"{value} < {limit} ({lang})") if value < limit else None


def _above(stage: str, signals: dict[str, Any], name: str, limit: float, lang: str | None) -> Drop | None:
    value = signals[name]
    return Drop(stage, name, f"{value} > {limit} ({lang})") if value > limit else None

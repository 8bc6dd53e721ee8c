"""Word pairs: how much of a document's word order a table of common adjacent pairs recognizes, and how much of it the
document repeats itself.

Spun text (words swapped for others of about the same frequency) keeps fluent-looking n-grams of a narrow model but
breaks the everyday pairs of the language ("in order to", "mua bán") and the phrases a long page repeats; the tables in data/pairs come from general
text (docs/quality-thresholds.md, filters/data/pairs/README.md) and are built by infra/build_pair_tables.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

PAIRS_DIR = Path(__file__).with_name("data") / "pairs"
MIN_PAIRS = 10  # fewer adjacent pairs than this: too little text to measure, pair_gain is None
MIN_REPEAT_PAIRS = 250  # a shorter page repeats too few of its phrases to tell clean from spun: repeat_gain is None
SHUFFLES = 4  # the shuffled share is averaged over this many fixed shuffles: short pages measure less noisily
_WORD = re.compile(r"[^\W\d_]+")
_MIX = np.uint64(0x9E3779B97F4A7C15)


def words(line: str) -> list[str]:
    """A line's letter runs, NFC and lowercased: the tokens the tables were built from."""
    return _WORD.findall(unicodedata.normalize("NFC", line).lower())


@lru_cache(maxsize=1 << 16)  # common words recur on every page; a hash costs 1 us, a cached one a tenth of it
def word_hash(word: str) -> int:
    """A stable 64-bit hash of one word (the same in every process and release)."""
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The table key of each (first, second) pair of word hashes; order matters."""
    with np.errstate(over="ignore"):
        return (first * _MIX) ^ second


class PairTable:
    """A sorted array of pair keys, looked up in bulk."""

    def __init__(self, path: Path) -> None:
        self.keys = np.load(path)

    def hits(self, rows: np.ndarray) -> np.ndarray:
        """How many keys of each row (sorted, as _gains gives them) are in the table. Searching the table in sorted
        order keeps its pages in cache: 2.5x faster than in text order."""
        at = np.minimum(np.searchsorted(self.keys, rows.ravel()), len(self.keys) - 1)
        return np.count_nonzero((self.keys[at] == rows.ravel()).reshape(rows.shape), axis=1)

    def pair_gain(self, text: str) -> float | None:
        """Share of the text's adjacent word pairs (within a line) found in the table, minus the same share with
        each line's words shuffled (the mean of SHUFFLES fixed shuffles). Near 0 for word salad; fluent text
        measures well above, spun text in between. None under MIN_PAIRS pairs."""
        h, ids = _hashed(text)
        return _gains(h, ids, [(MIN_PAIRS, self.hits)])[0]


def repeat_gain(text: str) -> float | None:
    """Share of the text's adjacent word pairs (within a line) that occur at least twice in it, minus the same share
    with each line's words shuffled. Reference-free: a long page repeats its phrases ("kinh tế", "the city council");
    text with every third word swapped breaks them differently each time. None under MIN_REPEAT_PAIRS pairs, where
    a clean page repeats too little to tell (docs/quality-thresholds.md)."""
    h, ids = _hashed(text)
    return _gains(h, ids, [(MIN_REPEAT_PAIRS, _repeated)])[0]


def gains(text: str, table: PairTable | None) -> tuple[float | None, float | None]:
    """(pair gain under table, None without one; repeat gain) of a text, its words hashed and shuffled once for
    both."""
    h, ids = _hashed(text)
    if table is None:
        return None, _gains(h, ids, [(MIN_REPEAT_PAIRS, _repeated)])[0]
    pair, repeats = _gains(h, ids, [(MIN_PAIRS, table.hits), (MIN_REPEAT_PAIRS, _repeated)])
    return pair, repeats


def _repeated(rows: np.ndarray) -> np.ndarray:
    """How many keys of each row (sorted) occur more than once in that row."""
    same = rows[:, 1:] == rows[:, :-1]  # a key equal to the next one: both are repeated
    repeated = np.zeros(rows.shape, bool)
    repeated[:, 1:] |= same
    repeated[:, :-1] |= same
    return np.count_nonzero(repeated, axis=1)


def _hashed(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The text's words as hashes, and the line each is on."""
    hashes: list[int] = []
    line_ids: list[int] = []
    for i, line in enumerate(text.splitlines()):
        line_words = words(line)
        hashes += map(word_hash, line_words)
        line_ids += [i] * len(line_words)
    return np.array(hashes, dtype=np.uint64), np.array(line_ids)


def _gains(
    h: np.ndarray, ids: np.ndarray, measures: list[tuple[int, Callable[[np.ndarray], np.ndarray]]]
) -> list[float | None]:
    """Per (min_pairs, count) measure: (count of the adjacent pairs in order - its mean over SHUFFLES fixed shuffles
    of each line) / pairs, None under min_pairs pairs. The shuffles are drawn once for all the measures; count takes
    the pair keys in order and in each shuffle as the rows of one array, each row sorted (a count per row does not
    depend on the order of its keys), and counts per row."""
    same_line = ids[:-1] == ids[1:]
    n = int(np.count_nonzero(same_line))
    wanted = [count if n >= min_pairs else None for min_pairs, count in measures]
    if not any(wanted):
        return [None] * len(measures)
    # Each line's words in a random order, lines in place: a line's number plus a draw in [0, 1) sorts by line, then
    # by draw (one argsort for all shuffles: 1.6x faster than a lexsort per shuffle; two draws of a line whose sums
    # round together, about 1e-13 apart, keep their text order). Fixed draws: the same text always measures the same.
    keys = np.random.default_rng(0).random((SHUFFLES, len(h))) + ids
    words = np.vstack([h, h[np.argsort(keys, axis=1, kind="stable")]])
    rows = np.sort(pair_keys(words[:, :-1], words[:, 1:])[:, same_line], axis=1)
    out = []
    for count in wanted:
        if count is None:
            out.append(None)
            continue
        in_order, *shuffled = count(rows).tolist()
        out.append(round((in_order - sum(shuffled) / SHUFFLES) / n, 4))
    return out


@cache
def load_table(lang: str) -> PairTable | None:
    """The shipped pair table of a language, once per process; None for a language without one."""
    path = PAIRS_DIR / f"{lang}.npy"
    return PairTable(path) if path.is_file() else None

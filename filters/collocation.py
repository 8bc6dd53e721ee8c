"""Word pairs of general text: how much of a document's word order a table of common adjacent pairs recognizes.

Spun text (words swapped for others of about the same frequency) keeps fluent-looking n-grams of a narrow model but
breaks the everyday pairs of the language ("in order to", "mua bán"); the tables in data/pairs come from general
text (docs/quality-thresholds.md, filters/data/pairs/README.md) and are built by infra/build_pair_tables.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache
from pathlib import Path

import numpy as np

PAIRS_DIR = Path(__file__).with_name("data") / "pairs"
MIN_PAIRS = 10  # fewer adjacent pairs than this: too little text to measure, pair_gain is None
SHUFFLES = 4  # the shuffled share is averaged over this many fixed shuffles: short pages measure less noisily
_WORD = re.compile(r"[^\W\d_]+")
_MIX = np.uint64(0x9E3779B97F4A7C15)


def words(line: str) -> list[str]:
    """A line's letter runs, NFC and lowercased: the tokens the tables were built from."""
    return _WORD.findall(unicodedata.normalize("NFC", line).lower())


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

    def hits(self, keys: np.ndarray) -> int:
        """How many of the keys are in the table."""
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return int(np.count_nonzero(self.keys[at] == keys))

    def pair_gain(self, text: str) -> float | None:
        """Share of the text's adjacent word pairs (within a line) found in the table, minus the same share with
        each line's words shuffled (the mean of SHUFFLES fixed shuffles). Near 0 for word salad; fluent text
        measures well above, spun text in between. None under MIN_PAIRS pairs."""
        cache: dict[str, int] = {}
        hashes, line_ids = [], []
        for i, line in enumerate(text.splitlines()):
            for word in words(line):
                if word not in cache:
                    cache[word] = word_hash(word)
                hashes.append(cache[word])
                line_ids.append(i)
        h, ids = np.array(hashes, dtype=np.uint64), np.array(line_ids)
        same_line = ids[:-1] == ids[1:]
        n = int(np.count_nonzero(same_line))
        if n < MIN_PAIRS:
            return None
        in_order = self.hits(pair_keys(h[:-1], h[1:])[same_line])
        rng = np.random.default_rng(0)  # fixed: the same text always measures the same
        shuffled = 0
        for _ in range(SHUFFLES):
            s = h[np.lexsort((rng.random(len(h)), ids))]  # each line's words in a random order, lines in place
            shuffled += self.hits(pair_keys(s[:-1], s[1:])[same_line])
        return round((in_order - shuffled / SHUFFLES) / n, 4)


@cache
def load_table(lang: str) -> PairTable | None:
    """The shipped pair table of a language, once per process; None for a language without one."""
    path = PAIRS_DIR / f"{lang}.npy"
    return PairTable(path) if path.is_file() else None

"""What deduplication measures, pure Python and numpy: normalized line, sentence-span and whole-text hashes, MinHash
signatures (datasketch's hash family, applied to a whole batch of shingles at once) and LSH band keys.

The corpus-wide grouping of these hashes is Beam's job (transforms/dedup.py); everything here looks at one document.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sieve.filters.textstats import SENTENCE_END

_DIGIT = re.compile(r"\d")
_NOT_WORD = re.compile(r"[\W_]+")  # punctuation, symbols and whitespace runs
_WORD_RUN = re.compile(r"[^\W_]+")  # what _NOT_WORD leaves
_COMBINING = re.compile(r"[\u0300-\u036f]+")  # the accents NFD splits off Latin letters
# The reasons of a document removed for its duplicate cluster's keeper (transforms/dedup.py decides; the publish step
# counts clusters from the rows with these reasons).
EXACT_DUPLICATE, NEAR_DUPLICATE = "exact_duplicate", "near_duplicate"
CLUSTER_REASONS = (EXACT_DUPLICATE, NEAR_DUPLICATE)
# Where a line is cut into sentences: after a sentence's end and the spaces that follow it (kept with the sentence).
_SENTENCE_SPLIT = re.compile(SENTENCE_END.pattern + r"\s*")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
# Fixed odd multipliers that mix a shingle's word hashes (and a band's rows) into one 64-bit value.
_MIX = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x94D049BB133111EB,
        0xBF58476D1CE4E5B9,
    ],
    np.uint64,
)


def normalize(text: str, keep_accents: bool) -> str:
    """CCNet's normalization: lower case, digits to 0, punctuation and symbols dropped, spaces collapsed; accents
    are stripped unless kept (Vietnamese keeps them: tones tell words apart, "ma" "má" "mà" "mả" are four words)."""
    return _NOT_WORD.sub(" ", _folded(text, keep_accents)).strip()


def _folded(text: str, keep_accents: bool) -> str:
    """Lower case, digits to 0, accents stripped unless kept: normalize before its punctuation and spaces."""
    text = text.lower()
    if not keep_accents:
        text = text if text.isascii() else _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return _DIGIT.sub("0", text)


def stable_hash(text: str) -> int:
    """A 63-bit hash, the same in every process and on every machine (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") >> 1


def line_hashes(text: str, keep_accents: bool) -> set[int]:
    """Hashes of a document's distinct normalized lines (lines empty once normalized are not counted)."""
    return {stable_hash(n) for n in (normalize(line, keep_accents) for line in text.split("\n")) if n}


@dataclass
class Edited:
    """A text after line and sentence removal, with what was removed."""

    text: str
    lines_removed: int = 0
    sentences_removed: int = 0  # repeats of a sentence earlier in the same document
    span_sentences_removed: int = 0  # sentences inside spans that another document holds
    chars_removed: int = 0
    words_left: int = 0


def _sentences(line: str) -> list[str]:
    """A line cut into sentences; joining them gives the line back exactly."""
    pieces, start = [], 0
    for m in _SENTENCE_SPLIT.finditer(line):
        pieces.append(line[start : m.end()])
        start = m.end()
    pieces.append(line[start:])
    return [p for p in pieces if p]


def edit(
    text: str,
    keep_accents: bool,
    frequent_lines: frozenset[int] | set[int],
    span_size: int,
    min_words: int,
    drop_spans: frozenset[int] | set[int] = frozenset(),
) -> tuple[Edited, list[int]]:
    """Remove lines whose hash is frequent, then sentences repeated within the text, then the sentences of every
    span (span_size consecutive sentences) whose hash is in drop_spans; returns the edit and the span hashes of
    the text after the first two steps (those the corpus counts across documents).

    Only sentences of at least min_words normalized words count: a shorter piece ("The U.S. ", "1 QH. ", a table
    header) is a fragment or a cell, whose repeats are not duplicate prose. Lines nothing was cut from stay as
    they were, blank ones included, so paragraphs keep their breaks."""
    lines: list[list[str]] = []
    removed_lines = 0
    for line in text.split("\n"):
        normal = normalize(line, keep_accents)
        if normal and stable_hash(normal) in frequent_lines:
            removed_lines += 1
        else:
            lines.append(_sentences(line))
    seen: set[str] = set()
    sentences: list[tuple[int, int, str]] = []  # (line, piece, normalized) of the sentences still in the text
    cut: set[int] = set()  # lines a sentence was cut from
    repeats = 0
    for i, pieces in enumerate(lines):
        for j, piece in enumerate(pieces):
            normal = normalize(piece, keep_accents)
            if normal.count(" ") + 1 < min_words or not normal:
                continue
            if normal in seen:
                pieces[j] = ""
                cut.add(i)
                repeats += 1
            else:
                seen.add(normal)
                sentences.append((i, j, normal))
    spans = [
        stable_hash("\n".join(s[2] for s in sentences[k : k + span_size]))
        for k in range(len(sentences) - span_size + 1)
    ]
    gone: set[int] = set()
    for k, h in enumerate(spans):
        if h in drop_spans:
            gone.update(range(k, k + span_size))
    for k in gone:
        i, j, _ = sentences[k]
        lines[i][j] = ""
        cut.add(i)
    kept = []
    for i, pieces in enumerate(lines):
        if i not in cut:
            kept.append("".join(pieces))
        elif line := "".join(pieces).strip():
            kept.append(line)
    out = "\n".join(kept)
    if out == text:
        return Edited(text, words_left=len(text.split())), spans
    return Edited(out, removed_lines, repeats, len(gone), len(text) - len(out), len(out.split())), spans


def preload() -> None:
    """Import datasketch ahead of permutations (0.6 s, most of it SciPy's integration, which its LSH module loads):
    a local run's launcher calls it in a thread while its Beam job runs, so the corpus passes find it loaded."""
    import datasketch  # noqa: F401


@lru_cache(maxsize=4)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for num_perm and seed: drawn once, by the process that
    plans the hashing, and shipped to the processes that hash, which then need no datasketch import of their own."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer on uint32 hashes: datasketch's pre-mix of every input hash (its _fmix(h, 32),
    tested equal)."""
    with np.errstate(over="ignore"):  # multiplication modulo 2^32
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))


class MinHasher:
    """MinHash signatures of word n-gram shingles with datasketch's hash family (its default "affine32" scheme).

    A shingle's hash mixes the CRC-32 of its words, so each word is hashed once rather than each shingle; all the
    shingles of a batch of documents then go through the permutations in one numpy expression. The result equals
    datasketch's MinHash.update_batch fed the same 32-bit shingle hashes (tested).
    """

    def __init__(self, perms: tuple[np.ndarray, np.ndarray]) -> None:
        """perms: datasketch's (a, b), as permutations gives them."""
        self.a, self.b = perms
        self.num_perm = len(self.a)

    @staticmethod
    def shingle_hashes(words: Sequence[str], n: int) -> np.ndarray:
        """32-bit hashes of the word n-grams (the whole text as one shingle when it has fewer than n words)."""
        if not words:
            return np.empty(0, np.uint32)
        w = np.fromiter(map(zlib.crc32, map(str.encode, words)), np.uint64, len(words))  # UTF-8
        k = min(n, len(w))
        h = np.zeros(len(w) - k + 1, np.uint64)
        with np.errstate(over="ignore"):
            for i in range(k):
                h = h * _MIX[i % len(_MIX)] + w[i : len(w) - k + 1 + i]
        return np.unique(((h >> np.uint64(32)) ^ h).astype(np.uint32))

    def signatures(self, shingles: Sequence[np.ndarray]) -> np.ndarray:
        """(documents, num_perm) uint32 signatures; a document with no shingle gets the all-max signature."""
        out = np.full((len(shingles), self.num_perm), 0xFFFFFFFF, np.uint32)
        a, b = self.a[:, None], self.b[:, None]
        with np.errstate(over="ignore"):  # arithmetic modulo 2^32, as datasketch's affine32 scheme does
            for i, hv in enumerate(shingles):
                if len(hv):  # (num_perm, shingles) then min along the contiguous axis: 10x reduceat's speed
                    out[i] = (a * fmix32(hv) + b).min(axis=1)
        return out


def words(text: str, keep_accents: bool) -> list[str]:
    """The shingle words of a text: its normalized words (Vietnamese: syllables), normalize(text).split() found
    directly as the runs between the characters normalize blanks."""
    return _WORD_RUN.findall(_folded(text, keep_accents))


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) 63-bit keys: equal keys in a band mean equal signature rows there, i.e. a candidate pair."""
    sig = signatures.astype(np.uint64)
    keys = np.zeros((len(sig), bands), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            h = np.full(len(sig), band + 1, np.uint64)
            for r in range(rows):
                h = (h * _MIX[r % len(_MIX)]) ^ sig[:, band * rows + r]
                h ^= h >> np.uint64(29)
            keys[:, band] = h >> np.uint64(1)
    return keys


@lru_cache(maxsize=16)
def lsh_params(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> tuple[int, int]:
    """(bands, rows) that minimize datasketch's weighted false-positive and false-negative areas at threshold: its
    _optimal_param's search (every bands x rows <= num_perm, the first minimum), with each area integrated exactly
    by Gauss-Legendre quadrature (the S-curve is a polynomial of degree bands x rows) instead of scipy's quad per
    pair, which took 0.56 s of every run's corpus passes."""
    x, w = np.polynomial.legendre.leggauss(num_perm // 2 + 1)  # exact up to degree num_perm + 1
    grid = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])  # datasketch's order
    bands, rows = grid[:, 0], grid[:, 1]

    def area(lo: float, hi: float, positive: bool) -> np.ndarray:
        s = lo + (hi - lo) * (x + 1) / 2
        candidate = 1 - (1 - s[None, :] ** rows[:, None]) ** bands[:, None]
        return (candidate if positive else 1 - candidate) @ w * (hi - lo) / 2

    error = area(0.0, threshold, True) * false_positive_weight + area(threshold, 1.0, False) * false_negative_weight
    best = int(np.argmin(error))
    return int(bands[best]), int(rows[best])


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """The S-curve: chance that two documents of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature values, row by row (an unbiased estimate of the shingle-set Jaccard)."""
    return (np.atleast_2d(a) == np.atleast_2d(b)).mean(axis=1)


def pairs_in_runs(keys: np.ndarray, nodes: np.ndarray, max_run: int) -> Iterable[tuple[int, int]]:
    """(a, b) node pairs, a < b, of equal keys; a run longer than max_run links each member to its first only
    (a star keeps the component and costs linear, not quadratic, edges)."""
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1])
    lengths = np.diff(np.append(starts, len(keys)))
    for start, length in zip(starts[lengths > 1].tolist(), lengths[lengths > 1].tolist()):
        run = nodes[start : start + length].tolist()
        if len(run) > max_run:
            yield from ((run[0], x) for x in run[1:])
        else:
            yield from ((x, y) for i, x in enumerate(run) for y in run[i + 1 :])

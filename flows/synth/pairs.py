"""Labelled document pairs for measuring deduplication, collected while the corpus streams (bounded memory).

Every pair inside an exact- or near-duplicate cluster is kept, plus a reservoir sample of distinct articles of the
same language and topic, whose word-5-gram Jaccard also says how far apart unrelated synthetic articles are.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

from sieve.flows.synth.text import jaccard, words

DISTINCT_SAMPLE = 2000  # distinct pairs measured for the summary
MIN_DISTINCT_IN_FILE = 100
_PARTNERS = 6  # earlier same-topic articles each sampled article is paired with
_KEPT_PER_TOPIC = 12  # earlier articles kept per (language, topic) to pair with
_KIND_ORDER = {"exact": 0, "near": 1, "distinct": 2}


class PairLog:
    """Collects pairs record by record; `cluster_ends` maps ("exact"|"near", cluster) to the index of its last member."""

    def __init__(self, cluster_ends: dict[tuple[str, int], int], near_pairs: int, articles: int, seed: int):
        self.cluster_ends = cluster_ends
        self.open: dict[tuple[str, int], list[tuple[str, set]]] = {}  # cluster -> (url, shingles) of members so far
        self.pairs: list[tuple[str, str, float, str]] = []
        self.rng = random.Random(f"dedup-pairs-{seed}")  # its own stream: sampling leaves the corpus unchanged
        self.in_file = max(near_pairs, MIN_DISTINCT_IN_FILE)
        self.capacity = max(DISTINCT_SAMPLE, self.in_file)
        # Sample about enough articles to fill the reservoir, so the sampling costs the same at any corpus size.
        self.rate = min(1.0, 1.5 * self.capacity / (_PARTNERS * max(articles, 1)))
        self.kept: dict[tuple[str, str], list[tuple[str, set]]] = {}
        self.seen: dict[tuple[str, str], int] = {}
        self.distinct: list[tuple[str, str, float]] = []
        self.candidates = 0

    def add(self, index: int, url: str, truth: dict) -> None:
        """Record one response record's truth (only article-like records with a body take part)."""
        if truth["body_text"] is None or truth["kind"] not in ("article", "exact_duplicate", "near_duplicate"):
            return
        body: set | None = None
        for label, cluster in (("exact", truth["dup_cluster"]), ("near", truth["near_dup_cluster"])):
            if cluster is None:
                continue
            body = body if body is not None else _shingles(truth["body_text"])
            key = (label, cluster)
            members = self.open.setdefault(key, [])
            self.pairs.extend((other, url, round(jaccard(theirs, body), 4), label) for other, theirs in members)
            members.append((url, body))
            if self.cluster_ends[key] == index:
                del self.open[key]
        if truth["kind"] == "article" and self.rng.random() < self.rate:
            self._sample_distinct(url, truth, body if body is not None else _shingles(truth["body_text"]))

    def _sample_distinct(self, url: str, truth: dict, body: set) -> None:
        """Pair the article with earlier same-topic articles (reservoir of pairs), then maybe keep it (reservoir)."""
        group = (truth["lang"], truth["topic"])
        kept = self.kept.setdefault(group, [])
        for other, theirs in self.rng.sample(kept, min(_PARTNERS, len(kept))):
            pair = (other, url, round(jaccard(theirs, body), 4))
            self.candidates += 1
            if len(self.distinct) < self.capacity:
                self.distinct.append(pair)
            elif (slot := self.rng.randrange(self.candidates)) < self.capacity:
                self.distinct[slot] = pair
        self.seen[group] = self.seen.get(group, 0) + 1
        if len(kept) < _KEPT_PER_TOPIC:
            kept.append((url, body))
        elif (slot := self.rng.randrange(self.seen[group])) < _KEPT_PER_TOPIC:
            kept[slot] = (url, body)

    def write(self, path: Path) -> dict:
        """Write the pairs file (sorted by kind, a, b) and return the distinct-pair Jaccard summary."""
        distinct = self.rng.sample(self.distinct, min(self.in_file, len(self.distinct)))
        rows = self.pairs + [(a, b, j, "distinct") for a, b, j in distinct]
        rows.sort(key=lambda row: (_KIND_ORDER[row[3]], row[0], row[1]))
        with path.open("w", encoding="utf-8") as f:
            for a, b, j, kind in rows:
                f.write(json.dumps({"a": a, "b": b, "jaccard": j, "kind": kind}) + "\n")
        return jaccard_summary([j for _, _, j in self.distinct])


def _shingles(text: str) -> set[str]:
    """text.shingles with each 5-gram joined into one string: same Jaccard, but strings cache their hash (3x faster)."""
    tokens = words(text)
    if len(tokens) < 5:
        return {" ".join(tokens)}
    return {" ".join(gram) for gram in zip(tokens, tokens[1:], tokens[2:], tokens[3:], tokens[4:])}


def jaccard_summary(values: list[float]) -> dict:
    """{sampled, median, p99, max} of a list of Jaccard values (zeros when empty)."""
    ordered = sorted(values)
    if not ordered:
        return {"sampled": 0, "median": 0.0, "p99": 0.0, "max": 0.0}
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"sampled": len(ordered), "median": round(statistics.median(ordered), 4), "p99": p99, "max": ordered[-1]}

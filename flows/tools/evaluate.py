"""Extraction quality against ground truth: the article-extraction-benchmark metric (F1 of word 4-gram shingles)."""

from __future__ import annotations

from collections import Counter


def shingles(text: str, n: int = 4) -> Counter:
    words = text.split()
    return Counter(tuple(words[i : i + n]) for i in range(max(len(words) - n + 1, 0)))


def shingle_f1(predicted: str, truth: str, n: int = 4) -> tuple[float, float, float]:
    """(precision, recall, F1) of predicted text against the true article body; both empty counts as perfect."""
    p, t = shingles(predicted, n), shingles(truth, n)
    if not p and not t:
        return 1.0, 1.0, 1.0
    overlap = sum((p & t).values())
    precision = overlap / sum(p.values()) if p else 0.0
    recall = overlap / sum(t.values()) if t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return precision, recall, f1

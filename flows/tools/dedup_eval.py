"""`sieve dedup-eval RUN --pairs PAIRS`: precision and recall of the near-duplicate stage on labelled pairs, and the
S-curve of the configured bands and rows, so a user tunes the threshold on numbers rather than guesses.

A pairs file has one JSON object per line: {"a": url, "b": url, "jaccard": float, "kind": "exact"|"near"|"distinct"}
(`sieve synth` writes one as dedup_pairs.jsonl; "kind" is optional). Two documents are predicted duplicates when
they carry the same dup_cluster_id. A pair is a positive when its Jaccard reaches the threshold, a negative when it
is below --negative-below (or of kind "distinct"); pairs between the two, and chain ends (kind "near" below the
threshold: merged through the documents between them), are reported apart and count neither way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sieve.filters.dedup import candidate_probability, lsh_params
from sieve.flows.publish import published
from sieve.flows.report import markdown_table
from sieve.transforms import storage
from sieve.transforms.progress import Progress

S_CURVE_AT = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass
class Score:
    """Confusion counts of one evaluation."""

    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    grey_merged: int = 0
    grey_apart: int = 0
    exact_found: int = 0
    exact_pairs: int = 0
    not_in_run: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def read_pairs(path: str) -> list[dict[str, Any]]:
    """The labelled pairs of a JSON-lines file (see the module docstring)."""
    pairs = []
    for number, line in enumerate(storage.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            pair = json.loads(line)
            pairs.append({"a": pair["a"], "b": pair["b"], "jaccard": float(pair["jaccard"]), "kind": pair.get("kind")})
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f'{path} line {number}: expected {{"a": url, "b": url, "jaccard": number}} ({e})'
            ) from None
    return pairs


def clusters_by_url(output: str) -> dict[str, str | None]:
    """url -> dup_cluster_id of every document that reached the dedup pass (kept, or dropped by dedup)."""
    manifest, _ = published(output)
    out: dict[str, str | None] = {}
    shards = [(kind, shard) for kind in ("kept", "dropped") for shard in manifest["shards"][kind]]
    with Progress("reading shards", sum(shard["rows"] for _, shard in shards), "rows") as progress:
        for kind, shard in shards:
            columns = ["url", "dup_cluster_id", "doc_id"] + (["stage"] if kind == "dropped" else [])
            t = storage.read_parquet(storage.join(output, shard["path"]), columns=columns)
            if kind == "dropped":
                t = t.filter(pa.compute.equal(t["stage"], "dedup"))
            for url, cluster, doc_id in zip(
                t["url"].to_pylist(), t["dup_cluster_id"].to_pylist(), t["doc_id"].to_pylist()
            ):
                out[url] = cluster or f"single:{doc_id}"
            progress.advance(shard["rows"])
    return out


def score(
    pairs: list[dict[str, Any]], clusters: dict[str, str | None], threshold: float, negative_below: float
) -> Score:
    """Confusion counts of the run's clusters against the labelled pairs."""
    s = Score()
    for p in pairs:
        if p["a"] not in clusters or p["b"] not in clusters:
            s.not_in_run += 1
            continue
        merged = clusters[p["a"]] == clusters[p["b"]]
        if p["kind"] == "exact":
            s.exact_pairs += 1
            s.exact_found += merged
        if p["jaccard"] >= threshold:
            s.tp += merged
            s.fn += not merged
        elif p["kind"] == "distinct" or (p["kind"] != "near" and p["jaccard"] < negative_below):
            s.fp += merged
            s.tn += not merged
        else:
            s.grey_merged += merged
            s.grey_apart += not merged
    return s


def s_curve(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> list[list[str]]:
    """Rows (Jaccard, probability of becoming a candidate pair) for the bands and rows these settings choose."""
    bands, rows = lsh_params(threshold, num_perm, fp_weight, fn_weight)
    return [[f"{j:.2f}", f"{candidate_probability(j, bands, rows):.3f}"] for j in S_CURVE_AT]


def evaluate(output: str, pairs_path: str, negative_below: float = 0.6) -> tuple[Score, dict[str, Any], str]:
    """(score, the run's dedup settings and statistics, a printable report) of a published run."""
    manifest, cfg = published(output)
    near = cfg.dedup.near
    result = score(read_pairs(pairs_path), clusters_by_url(output), near.threshold, negative_below)
    bands, rows = lsh_params(near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight)
    stats = manifest.get("passes", {}).get("dedup", {})
    lines = [
        f"near-duplicate stage of {output}: threshold {near.threshold}, {near.num_perm} permutations, "
        f"{bands} bands x {rows} rows, candidates verified at estimated Jaccard >= {near.min_estimated_jaccard}",
        "",
        *markdown_table(
            ["pairs", "merged", "apart"],
            [
                [f"positives (Jaccard >= {near.threshold})", str(result.tp), str(result.fn)],
                [f"negatives (distinct, or Jaccard < {negative_below})", str(result.fp), str(result.tn)],
                ["between, or chain ends (not scored)", str(result.grey_merged), str(result.grey_apart)],
                ["exact copies", str(result.exact_found), str(result.exact_pairs - result.exact_found)],
            ],
        ),
        "",
        f"precision {result.precision:.4f}, recall {result.recall:.4f} "
        f"({result.not_in_run} pairs not measured: a document was dropped before dedup or is not in the run)",
        "",
        "S-curve: chance that a pair becomes a candidate, by its Jaccard similarity",
        "",
        *markdown_table(
            ["Jaccard", "P(candidate)"],
            s_curve(near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight),
        ),
    ]
    if stats:
        lines += [
            "",
            f"clusters: {stats['clusters']['count']} ({stats['clusters']['removed']} documents removed), "
            f"sizes {stats['clusters']['size_histogram']}; {stats['component_rounds']} component rounds",
        ]
    return result, stats, "\n".join(lines)

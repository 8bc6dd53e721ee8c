"""The curation funnel of a published run: the records read, then each step in pipeline order with the records that
reached it, those it dropped and those left. The dataset card, the Prefect artifacts and the reports show it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sieve.schemas.config import Config
from sieve.transforms.passes import passes_for
from sieve.transforms.stages import stage_names
from sieve.transforms.warc import STAGE as READ

SKIPPED = "skipped"  # the step of the records that are no documents (warcinfo, request, metadata): never dropped rows


def funnel(manifest: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:
    """One row per step, {"step", "in", "dropped", "out"}: the skipped records, the reader, the config's document
    stages and corpus passes in the order they run (the registries' order); the last row's "out" is the kept count.

    A stage that is also a corpus pass (perplexity: its maximum per document, then the tail per language) is one
    step, where it first runs; a stage the config no longer has (a rethreshold's dropped rows) comes last."""
    dropped: Counter = Counter()
    for key, n in manifest["dropped_by_reason"].items():
        dropped[key.split("/", 1)[0]] += n
    order = [READ, *stage_names(cfg), *(p.name for p in passes_for(cfg))]  # names only: building loads models
    steps = [(SKIPPED, manifest["counts"]["skipped"])] + [
        (s, dropped[s]) for s in dict.fromkeys(order + sorted(dropped))
    ]
    rows, left = [], manifest["counts"]["read"]
    for step, n in steps:
        rows.append({"step": step, "in": left, "dropped": n, "out": left - n})
        left -= n
    return rows

"""The corpus-pass registry: the passes a run applies after its per-file shards, in order, built here above the
passes (transforms/corpus.py, transforms/dedup.py), which import nothing of it. The document stages have theirs in
transforms/stages.py: a range worker loads those and never Beam's corpus jobs."""

from __future__ import annotations

from sieve.schemas.config import Config
from sieve.transforms.corpus import CorpusPass, PerplexityBuckets
from sieve.transforms.dedup import Dedup


def passes_for(cfg: Config) -> list[CorpusPass]:
    """The corpus passes a config asks for, in order (run_passes runs them as Beam jobs on the run's runner).
    Add a new pass here and nowhere else.

    Dedup first, as CCNet does: the perplexity percentiles are then those of the documents kept, each scored on
    the text kept (dedup scores the documents whose text it edits again), not of duplicates and cut boilerplate."""
    passes: list[CorpusPass] = []
    if cfg.dedup.enabled:
        passes.append(Dedup(cfg))
    pp = cfg.quality.perplexity
    if cfg.language_id.enabled and pp.enabled:
        passes.append(PerplexityBuckets(pp.head_percentile, pp.tail_percentile, pp.drop_tail))
    return passes

"""Running the Beam job on some WARC files without Prefect or publishing: for benchmarks, tests and notebooks."""

from __future__ import annotations

from typing import Any

from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed
from sieve.schemas.config import Config
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.passes import passes_for
from sieve.transforms.pipeline import run_job
from sieve.transforms.summary import summarize


def run_files(
    specs: list[str], cfg: Config, run_dir: str, runner: str = "DirectRunner", workers: int = 2
) -> tuple[dict[str, int], dict[str, Any]]:
    """Plan specs, run the job and the corpus passes into run_dir, and return (Beam counters, the summary read back
    from the shards)."""
    files = plan_inputs(specs)
    counters = run_job([f.as_dict() for f in files], cfg, run_dir, runner=runner, workers=workers)
    run_passes(run_dir, committed(run_dir, files), passes_for(cfg), cfg.output, CorpusJobs.of(cfg, runner, workers))
    return counters, summarize(run_dir, files, committed(run_dir, files))

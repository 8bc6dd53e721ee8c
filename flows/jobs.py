"""Running the Beam job on some WARC files without Prefect or publishing: for benchmarks, tests and notebooks."""

from __future__ import annotations

import time
from typing import Any

from sieve.flows import phases
from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed, finished_ranges
from sieve.schemas.config import Config
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.passes import passes_for
from sieve.transforms.pipeline import run_job
from sieve.transforms.summary import summarize
from sieve.transforms.supervise import close_idle, has_range_processes, warm_up


def run_files(
    specs: list[str], cfg: Config, run_dir: str, runner: str = "DirectRunner", workers: int = 2
) -> tuple[dict[str, int], dict[str, Any]]:
    """Plan specs, run the job and the corpus passes into run_dir, and return (Beam counters, the summary read back
    from the shards, with "phases": where the time went, as a run's manifest records it, the summary job included)."""
    start = time.time()
    try:
        if has_range_processes(cfg, runner):
            warm_up(cfg, run_dir, workers)  # as `sieve run` does: the range processes load their models meanwhile
        files = plan_inputs(specs)
        steps = {"plan": (start, time.time())}
        counters = run_job([f.as_dict() for f in files], cfg, run_dir, runner=runner, workers=workers, keep_warm=True)
        steps["beam_job"] = (steps["plan"][1], time.time())
        worker_phases = phases.workers([m for m, _, _ in finished_ranges(run_dir, files)], steps["beam_job"][0])
        jobs = CorpusJobs.of(cfg, runner, workers, run_dir)
        run_passes(run_dir, committed(run_dir, files), passes_for(cfg), cfg.output, jobs)
    finally:
        close_idle()  # the range processes warmed up for the job and kept warm for the passes
    steps["passes"] = (steps["beam_job"][1], time.time())
    summary = summarize(run_dir, files, committed(run_dir, files))
    steps["summary"] = (steps["passes"][1], time.time())
    return counters, summary | {"phases": phases.summary(start, steps, worker_phases)}

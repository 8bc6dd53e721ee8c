"""The `curate` Prefect flow: plan inputs, run the Beam job into staging, check counts, publish atomically."""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from sieve.flows.plan import InputFile, plan_inputs
from sieve.flows.progress import watch_progress
from sieve.flows.publish import prepare_output, publish, summarize, up_to_date, write_manifest
from sieve.flows.report import write_report
from sieve.schemas.config import Config, load_config
from sieve.transforms.pipeline import run_job


@task(name="plan-inputs", cache_policy=NONE)
def plan_task(inputs: list[str]) -> list[InputFile]:
    """Resolve and checksum the inputs; the checksums decide whether a rerun has anything to do."""
    files = plan_inputs(inputs)
    get_run_logger().info("planned %d input files, %.1f MB", len(files), sum(f.size for f in files) / 1e6)
    return files


@task(name="beam-job", cache_policy=NONE)
def beam_task(files: list[InputFile], cfg: Config, staging: Path, runner: str, workers: int) -> dict[str, Any]:
    """Run the Beam job into staging while logging progress; returns how it ran and its counters."""
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    start = time.perf_counter()
    with watch_progress(staging, sum(f.size for f in files), get_run_logger()):
        counters = run_job([f.path for f in files], cfg, str(staging), runner=runner, workers=workers)
    return {"runner": runner, "workers": workers, "seconds": round(time.perf_counter() - start, 3), "beam_counters": counters}


@task(name="publish", cache_policy=NONE)
def publish_task(staging: Path, output: str, files: list[InputFile], cfg: Config, run: dict[str, Any]) -> dict[str, Any]:
    """Check conservation, write the manifest, swap staging into place, write the report."""
    manifest = write_manifest(staging, summarize(staging), files, cfg.as_dict(), cfg.hash, run)
    out = publish(staging, output)
    write_report(out, manifest)
    return manifest


@flow(name="curate")
def curate(inputs: list[str], output: str, config: str | None = None, runner: str = "DirectRunner",
           workers: int | None = None, force: bool = False) -> dict[str, Any]:
    """WARC files -> kept/ and dropped/ Parquet, manifest.json and report.md under output (workers: default all CPUs)."""
    log = get_run_logger()
    workers = workers or os.cpu_count() or 1
    cfg = load_config(config)
    files = plan_task(inputs)
    if not force and (manifest := up_to_date(output, files, cfg.hash)):
        log.info("%s already holds this run (same inputs and config %s); nothing to do (use --force to rerun)", output, cfg.hash)
        return manifest
    staging = prepare_output(output)
    try:
        run = beam_task(files, cfg, staging, runner, workers)
        manifest = publish_task(staging, output, files, cfg, run)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when published
    c = manifest["counts"]
    log.info("published %s: read %d, kept %d, dropped %d, skipped %d", output, c["read"], c["kept"], c["dropped"], c["skipped"])
    return manifest

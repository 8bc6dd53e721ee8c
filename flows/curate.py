"""The `curate` Prefect flow: plan inputs, run the Beam job batch by batch, check counts, commit the manifest."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from sieve.filters.pii import install_log_scrubber
from sieve.flows import phases
from sieve.flows.artifacts import publish_artifacts
from sieve.flows.outputs import publish
from sieve.flows.plan import InputFile, batches, check_output, plan_inputs, resolve_latest
from sieve.flows.progress import watch_progress
from sieve.flows.publish import (
    check_unchanged,
    committed,
    config_identity,
    finished_ranges,
    manifest_for,
    run_folder,
    up_to_date,
)
from sieve.schemas.config import Config, load_config
from sieve.transforms import lease
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.passes import passes_for
from sieve.transforms.pipeline import run_job
from sieve.transforms.summary import summarize
from sieve.transforms.supervise import close_idle


@task(name="plan-inputs", cache_policy=NONE)
def plan_task(
    inputs: list[str], base_url: str | None, limit_files: int | None, sample_fraction: float | None
) -> list[InputFile]:
    """Resolve the inputs (files, folders, globs, listings; local or object store) and choose the subset."""
    files = plan_inputs(inputs, base_url, limit_files, sample_fraction)
    get_run_logger().info("planned %d input files, %.1f MB", len(files), sum(f.size for f in files) / 1e6)
    return files


@task(name="beam-job", cache_policy=NONE)
def beam_task(
    files: list[InputFile], cfg: Config, run_dir: str, runner: str, workers: int, run_bytes: int
) -> dict[str, Any]:
    """Run the Beam job on one batch of files; returns how it ran and its counters."""
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    start = time.perf_counter()
    counters = run_job(
        [f.as_dict() for f in files], cfg, run_dir, runner=runner, workers=workers, run_bytes=run_bytes, keep_warm=True
    )
    return {"files": len(files), "seconds": round(time.perf_counter() - start, 3), "beam_counters": counters}


@task(name="corpus-passes", cache_policy=NONE)
def passes_task(run_dir: str, files: list[InputFile], cfg: Config, runner: str, workers: int) -> dict[str, Any]:
    """Decisions that need the whole run (duplicates, perplexity percentiles), applied to every committed file's
    shards; their statistics and rewrites run as Beam jobs on the same runner."""
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        jobs = CorpusJobs.of(cfg, runner, workers, run_dir)  # with the range processes the Beam jobs left warm
        return run_passes(run_dir, committed(run_dir, files), passes_for(cfg), cfg.output, jobs)
    finally:
        close_idle()


@task(name="publish", cache_policy=NONE)
def publish_task(
    output: str,
    run_dir: str,
    files: list[InputFile],
    cfg: Config,
    identity: str,
    run: dict[str, Any],
    passes: dict[str, Any],
) -> dict[str, Any]:
    """Check conservation from the shards, write the report and the dataset card, then commit the manifest."""
    start = time.time()
    markers = committed(run_dir, files)
    manifest = manifest_for(summarize(run_dir, files, markers), files, markers, cfg.as_dict(), identity, run, passes)
    run["phases"]["publish"] = round(time.time() - start, 2)  # the checks, summary and manifest; not the writes below
    publish(output, manifest, cfg)
    return manifest


@flow(name="curate")
def curate(
    inputs: list[str],
    output: str,
    config: str | None = None,
    runner: str = "DirectRunner",
    workers: int | None = None,
    force: bool = False,
    limit_files: int | None = None,
    sample_fraction: float | None = None,
    base_url: str | None = None,
    batch_files: int | None = None,
) -> dict[str, Any]:
    """WARC files -> kept and dropped Parquet shards, report.md, the dataset card README.md and manifest.json under
    output (local, s3://, gs://); the run's counts, funnel and report link as Prefect artifacts.

    A rerun of the same command resumes: files committed by an earlier, interrupted run are not redone.
    inputs may name a CommonCrawl warc.paths.gz listing, whose lines are read below base_url; {latest} in inputs
    and output stands for the newest crawl folder, so a monthly schedule takes each new crawl.
    """
    log = get_run_logger()
    flow_start = time.time()
    workers = workers or os.cpu_count() or 1
    cfg = load_config(config)
    install_log_scrubber(cfg.pii)  # this process logs too (corpus passes, publish): no PII in those lines either
    deployed_output = output  # {latest} unresolved: the artifact keys stay the same from one crawl to the next
    inputs, output = resolve_latest(inputs, output)
    identity = config_identity(cfg)
    steps = {"plan": (time.time(), 0.0)}
    files = plan_task(inputs, base_url, limit_files, sample_fraction)
    steps["plan"] = (steps["plan"][0], time.time())
    output = check_output(output)
    with lease.holding(output, cfg.lease):  # one writer per output: a second run fails here, naming this one
        if not force and (manifest := up_to_date(output, files, identity)):
            log.info(
                "%s already holds this run (same inputs and config %s); nothing to do (use --force to rerun)",
                output,
                identity,
            )
            return manifest
        run_dir = run_folder(output, identity, force)
        check_unchanged(run_dir, files)  # an input replaced under the same name is refused, not mixed
        done = committed(run_dir, files, checksums=True)  # a torn or replaced shard: its file is done again
        todo = [f for f in files if f.name not in done]
        if done:
            log.info("resuming %s: %d of %d files were committed by an earlier run", run_dir, len(done), len(files))
        if ranges := finished_ranges(run_dir, todo):
            log.info("resuming %s: reusing %d finished record ranges of unfinished files", run_dir, len(ranges))
        groups = batches(todo, workers, batch_files)
        run_bytes = sum(f.size for f in files)
        start = time.perf_counter()
        beam_start = time.time()
        with watch_progress(run_dir, todo, log):
            jobs = [
                beam_task.with_options(name=f"beam-job-{i + 1}-of-{len(groups)}")(
                    group, cfg, run_dir, runner, workers, run_bytes
                )
                for i, group in enumerate(groups)
            ]
        steps["beam_job"] = (beam_start, time.time())
        worker_phases = phases.workers([m for m, _, _ in finished_ranges(run_dir, todo)], beam_start)
        passes_start = time.time()
        passes = passes_task(run_dir, files, cfg, runner, workers)
        steps["passes"] = (passes_start, time.time())
        run = {
            "runner": runner,
            "workers": workers,
            "seconds": round(time.perf_counter() - start, 3),
            "files_resumed": len(done),
            "batches": jobs,
            "phases": phases.summary(flow_start, steps, worker_phases),
        }
        manifest = publish_task(output, run_dir, files, cfg, identity, run, passes)
        publish_artifacts(deployed_output, output, manifest, cfg)
        c = manifest["counts"]
        log.info(
            "published %s: read %d, kept %d, dropped %d, skipped %d",
            output,
            c["read"],
            c["kept"],
            c["dropped"],
            c["skipped"],
        )
        return manifest

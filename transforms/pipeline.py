"""The one place where stages are wired into the Beam job, and how the job is run on any runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sieve.filters.dedup import preload
from sieve.schemas.config import Config
from sieve.transforms import storage
from sieve.transforms.beam_cache import cache_beam_answers
from sieve.transforms.documents import ProcessWarcRange
from sieve.transforms.lifecycle import workers_end_first
from sieve.transforms.parquet import shard_stem
from sieve.transforms.sinks import MergeShards
from sieve.transforms.supervise import close_idle, has_range_processes, in_range_process, passes_follow
from sieve.transforms.warc import record_ranges

cache_beam_answers()  # a third of a small run's corpus passes went to answers Beam computes again and again
T = TypeVar("T")
# Input files under this size are cut into ranges by the worker itself (0.2 CPU s at most), even where it is the
# launcher: in_range_process waits for a range process to load its models, which on a short run is the first
# record's wait (+0.3 s on the 12-page sample).
SPLIT_HERE_BYTES = 8 << 20
# Few input files are cut into this many ranges per worker, so uneven ranges still keep every worker busy.
SPLITS_PER_WORKER = 4
PRELOAD_AFTER_S = 3.0  # when a local run's launcher imports datasketch for the passes, after the job's start
# A module each SDK worker imports before it opens its data channels (Beam's --beam_plugins): it bounds the bytes a
# worker buffers, which on the local runner otherwise grow with the run. Only the workers: nothing here imports it.
BUFFERS_PLUGIN = "sieve.transforms.beam_buffers"


def _here(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in this worker."""
    return fn(*args)


def _caller(cfg: Config, run_dir: str, runner: str) -> Callable[..., Any]:
    """How a worker runs its work besides the ranges (cutting files, merging shards): on a local runner with range
    processes the workers are the launching process (threads of it, or its in-memory worker), which should only
    wait, so in an idle range process (supervise.in_range_process); elsewhere in the worker itself."""
    if has_range_processes(cfg, runner):
        return partial(in_range_process, cfg, run_dir)
    return _here


def _split(source: dict[str, Any], max_records: int, call: Callable[..., Any]) -> list[tuple[dict[str, Any], int, int]]:
    """The file's record ranges: a small file's cut here at once (while the range processes start), a bigger one's
    by call."""
    if source["size"] < SPLIT_HERE_BYTES:
        return record_ranges(source, max_records)
    return call(record_ranges, source, max_records)


def _planned(files: list[dict[str, Any]], workers: int, run_bytes: int | None) -> list[dict[str, Any]]:
    """The input files in name order, each with the fewest ranges it is cut into (min_splits)."""
    # Each file is cut into at least its share (by bytes of the whole run, run_bytes, so that a rerun cuts it the
    # same way and reuses its finished ranges) of SPLITS_PER_WORKER ranges per worker: a few big files still keep
    # every worker busy; many files are cut only by records_per_split.
    total = run_bytes or sum(f["size"] for f in files) or 1
    planned = [{**f, "min_splits": max(1, -(-SPLITS_PER_WORKER * workers * f["size"] // total))} for f in files]
    return sorted(planned, key=lambda f: f["name"])


def _process_ranges(ranges: beam.PCollection, cfg: Config, run_dir: str, call: Callable[..., Any]) -> None:
    """Record ranges -> fused stage (read, extract, filters) -> Parquet parts -> one shard per file -> its marker."""
    (
        ranges
        | "SpreadRanges" >> beam.Reshuffle()  # only (file, start, end) crosses this shuffle
        | "ProcessWarcRange" >> beam.ParDo(ProcessWarcRange(cfg, run_dir))  # emits counts and part paths, not rows
        | "MergeShards" >> MergeShards(run_dir, cfg.output, call)
    )


def build_pipeline(
    p: beam.Pipeline,
    files: list[dict[str, Any]],
    cfg: Config,
    run_dir: str,
    workers: int = 1,
    run_bytes: int | None = None,
    runner: str = "DirectRunner",
) -> None:
    """Input files -> record ranges (cut on the workers) -> processed ranges -> one shard per file -> its commit
    marker. files are dicts with the input's uri, name, size and mtime_ns."""
    call = _caller(cfg, run_dir, runner)
    ranges = (
        p
        | "InputFiles" >> beam.Create(_planned(files, workers, run_bytes))
        | "SpreadFiles" >> beam.Reshuffle()
        | "SplitFiles" >> beam.FlatMap(_split, cfg.read.records_per_split, call)
    )
    _process_ranges(ranges, cfg, run_dir, call)


def _plan_path(run_dir: str, name: str) -> str:
    """Where the planning job writes one input file's ranges (a working file, removed at the run's commit)."""
    return storage.join(run_dir, "ranges", f"{shard_stem(name)}.plan.json")


def _write_plan(source: dict[str, Any], max_records: int, run_dir: str) -> None:
    storage.write_text(_plan_path(run_dir, source["name"]), json.dumps(record_ranges(source, max_records)))


def _read_plan(run_dir: str, name: str) -> list[tuple[dict[str, Any], int, int]]:
    return [(source, start, end) for source, start, end in json.loads(storage.read_text(_plan_path(run_dir, name)))]


def plan_ranges(
    files: list[dict[str, Any]],
    cfg: Config,
    run_dir: str,
    runner: str,
    workers: int,
    run_bytes: int | None,
) -> list[tuple[dict[str, Any], int, int]]:
    """Every record range of files, cut by a first Beam job on the workers (each file read there once, none by
    the launcher, which only reads back the small plans): for a runner that does not redistribute a job's
    elements, so that the main job can create the ranges themselves."""
    planned = _planned(files, workers, run_bytes)
    p = beam.Pipeline(options=pipeline_options(runner, workers, cfg.beam.options))
    (
        p
        | "InputFiles" >> beam.Create(planned)
        | "SpreadFiles" >> beam.Reshuffle()
        | "PlanFiles" >> beam.Map(_write_plan, cfg.read.records_per_split, run_dir)
    )
    p.run().wait_until_finish()
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        plans = pool.map(partial(_read_plan, run_dir), [f["name"] for f in planned])
        return [r for plan in plans for r in plan]


def _redistributes(runner: str) -> bool:
    """Whether the runner spreads a job's elements over its workers at a Reshuffle; Beam's DaskRunner does not."""
    return not runner.endswith("DaskRunner")


def pipeline_options(
    runner: str, workers: int, extra: list[str], dask_partitions: int | None = None, threads: bool = False
) -> PipelineOptions:
    """Runner choice is options only: DirectRunner runs its `workers` Beam workers on this machine as processes, or
    as threads where each only waits on a range process of its own, which does the work; anything else as given.
    Every SDK worker imports BUFFERS_PLUGIN first, which bounds its data-plane buffers."""
    args = [f"--runner={runner}", f"--beam_plugins={BUFFERS_PLUGIN}"]
    if runner == "DirectRunner":
        mode = ("multi_threading" if threads else "multi_processing") if workers > 1 else "in_memory"
        args += [
            f"--direct_running_mode={mode}",
            f"--direct_num_workers={workers}",
            # Beam's DirectRunner hands every pipeline it can to its Prism runner first, fetching Prism's binary from
            # GitHub: with a network that is another runner than the one tested (it ignores the running mode), and
            # offline each job loses ~0.2 s failing and leaks a temp folder. Prism declines unsafe-trigger pipelines,
            # so this flag (our triggers are the defaults; it changes nothing else) keeps every job on the FnApiRunner.
            "--allow_unsafe_triggers",
            # workers log Beam's chatter at WARNING, sieve's per-range progress at INFO
            "--default_sdk_harness_log_level=WARNING",
            '--sdk_harness_log_level_overrides={"sieve": "INFO"}',
        ]
    elif not _redistributes(runner) and not any(
        o.startswith(("--dask_npartitions", "--dask_partition_size")) for o in extra
    ):
        # Beam's DaskRunner puts up to 128 created items in one partition and makes Reshuffle a no-op: the
        # partitions of what a job creates are all its spread. One created item per partition, or dask_partitions
        # runs of consecutive items (each partition sets its DoFns up once).
        args.append(f"--dask_npartitions={dask_partitions}" if dask_partitions else "--dask_partition_size=1")
    return PipelineOptions(args + list(extra))


def run_job(
    files: list[dict[str, Any]],
    cfg: Config,
    run_dir: str,
    runner: str = "DirectRunner",
    workers: int = 2,
    run_bytes: int | None = None,
    keep_warm: bool = False,
) -> dict[str, int]:
    """Run the Beam job to completion, writing shards and commit markers under run_dir; returns its sieve counters.
    keep_warm: leave a local job's range processes running for the run's corpus jobs (CorpusJobs.of finds them;
    the caller ends them with supervise.close_idle); a failed job ends them at once."""
    supervised = cfg.guard.document_timeout_seconds > 0
    if keep_warm and supervised:
        passes_follow(cfg, run_dir)
    if _redistributes(runner):
        # Supervised ranges run in range processes: a local Beam worker only waits on its own, so it can be a thread
        # of this process instead of a process that imports Beam and sieve again (2-3 CPU-s each, a second to exit).
        p = beam.Pipeline(options=pipeline_options(runner, workers, cfg.beam.options, threads=supervised))
        build_pipeline(p, files, cfg, run_dir, workers, run_bytes, runner)
    else:
        # What the job creates is all it spreads: the ranges, planned by a first job, in as many partitions as
        # files or as SPLITS_PER_WORKER per worker, whichever is more (a big file's ranges spread over the workers,
        # many files' ranges stay about one file to a partition).
        ranges = plan_ranges(files, cfg, run_dir, runner, workers, run_bytes)
        spread = max(len(files), SPLITS_PER_WORKER * workers)
        p = beam.Pipeline(options=pipeline_options(runner, workers, cfg.beam.options, dask_partitions=spread))
        _process_ranges(p | "InputRanges" >> beam.Create(ranges), cfg, run_dir, _here)
    if runner == "DirectRunner":
        # a local run's corpus passes follow: dedup draws its permutations in this process (transforms/dedup.py), and
        # the passes run here or in the range processes kept warm for them, which prepare themselves (supervise.serve).
        # Once the job is under way: imported at its start, the import held the GIL the job's start needed (the first
        # record 0.45 s later on the 12-page sample); a job shorter than the wait imports it in the passes instead.
        preloading = threading.Timer(PRELOAD_AFTER_S, preload)
        preloading.daemon = True
        preloading.start()
    try:
        with workers_end_first():  # a stop ends the job's workers at once, not after their ranges in flight
            result = p.run()
            result.wait_until_finish()
    except BaseException:
        close_idle()
        raise
    if not keep_warm:
        close_idle()  # range processes a local job left warm in this process
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace("sieve"))["counters"]
    except NotImplementedError:  # Beam's DaskRunner reports no metrics; the written tables still carry every count
        return {}
    return dict(sorted((c.key.metric.name, c.committed) for c in counters))

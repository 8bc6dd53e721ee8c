"""The one place where stages are wired into the Beam job, and how the job is run on any runner."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sieve.schemas.config import Config
from sieve.transforms.documents import ProcessWarcRange
from sieve.transforms.lifecycle import workers_end_first
from sieve.transforms.sinks import MergeShards
from sieve.transforms.warc import split_warc

# Few input files are cut into this many ranges per worker, so uneven ranges still keep every worker busy.
SPLITS_PER_WORKER = 4


def _ranges(source: dict[str, Any], max_records: int) -> list[tuple[dict[str, Any], int, int]]:
    """An input file's record ranges, each carrying the file's identity and checksum for its commit marker."""
    ranges, sha256 = split_warc(source["uri"], max_records, source["min_splits"])
    source = {k: v for k, v in source.items() if k != "min_splits"} | {"sha256": sha256}
    return [(source, start, end) for start, end in ranges]


def build_pipeline(
    p: beam.Pipeline,
    files: list[dict[str, Any]],
    cfg: Config,
    run_dir: str,
    workers: int = 1,
    run_bytes: int | None = None,
) -> None:
    """Input files -> record ranges -> fused stage (read, extract, filters) -> Parquet parts -> one shard per file
    -> its commit marker. files are dicts with the input's uri, name, size and mtime_ns."""
    # Each file is cut into at least its share (by bytes of the whole run, run_bytes, so that a rerun cuts it the
    # same way and reuses its finished ranges) of SPLITS_PER_WORKER ranges per worker: a few big files still keep
    # every worker busy; many files are cut only by records_per_split.
    total = run_bytes or sum(f["size"] for f in files) or 1
    planned = [{**f, "min_splits": max(1, -(-SPLITS_PER_WORKER * workers * f["size"] // total))} for f in files]
    (
        p
        | "InputFiles" >> beam.Create(sorted(planned, key=lambda f: f["name"]))
        | "SpreadFiles" >> beam.Reshuffle()
        | "SplitFiles" >> beam.FlatMap(_ranges, cfg.read.records_per_split)
        | "SpreadRanges" >> beam.Reshuffle()  # only (file, start, end) crosses this shuffle
        | "ProcessWarcRange" >> beam.ParDo(ProcessWarcRange(cfg, run_dir))  # emits counts and part paths, not rows
        | "MergeShards" >> MergeShards(run_dir, cfg.output)
    )


def pipeline_options(runner: str, workers: int, extra: list[str]) -> PipelineOptions:
    """Runner choice is options only: DirectRunner runs multi_processing on this machine, anything else as given."""
    args = [f"--runner={runner}"]
    if runner == "DirectRunner":
        mode = "multi_processing" if workers > 1 else "in_memory"
        args += [
            f"--direct_running_mode={mode}",
            f"--direct_num_workers={workers}",
            # workers log Beam's chatter at WARNING, sieve's per-range progress at INFO
            "--default_sdk_harness_log_level=WARNING",
            '--sdk_harness_log_level_overrides={"sieve": "INFO"}',
        ]
    elif runner.endswith("DaskRunner") and not any(
        o.startswith(("--dask_npartitions", "--dask_partition_size")) for o in extra
    ):
        # Beam's DaskRunner puts up to 128 created items in one partition and makes Reshuffle a no-op: one
        # partition per input file is what spreads the files over the workers.
        args.append("--dask_partition_size=1")
    return PipelineOptions(args + list(extra))


def run_job(
    files: list[dict[str, Any]],
    cfg: Config,
    run_dir: str,
    runner: str = "DirectRunner",
    workers: int = 2,
    run_bytes: int | None = None,
) -> dict[str, int]:
    """Run the Beam job to completion, writing shards and commit markers under run_dir; returns its sieve counters."""
    p = beam.Pipeline(options=pipeline_options(runner, workers, cfg.beam.options))
    build_pipeline(p, files, cfg, run_dir, workers, run_bytes)
    with workers_end_first():  # a stop ends the job's workers at once, not after their ranges in flight
        result = p.run()
        result.wait_until_finish()
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace("sieve"))["counters"]
    except NotImplementedError:  # Beam's DaskRunner reports no metrics; the written tables still carry every count
        return {}
    return dict(sorted((c.key.metric.name, c.committed) for c in counters))

"""The one place where stages are wired into the Beam job, and how the job is run on any runner."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sieve.schemas.config import Config
from sieve.transforms.documents import ProcessWarcRange
from sieve.transforms.sinks import MergeShards, WriteJson
from sieve.transforms.warc import split_warc

STATS_FILE = "file_stats.json"
# Few input files are cut into this many ranges per worker, so uneven ranges still keep every worker busy.
SPLITS_PER_WORKER = 4


def build_pipeline(p: beam.Pipeline, files: list[str], cfg: Config, staging: str, workers: int = 1) -> None:
    """WARC files -> record ranges -> fused stage (read, extract, filters) -> Parquet parts -> one shard per file."""
    max_records = cfg.read.records_per_split
    min_splits = SPLITS_PER_WORKER * workers if len(files) < workers * SPLITS_PER_WORKER else 1
    (
        p
        | "InputFiles" >> beam.Create(sorted(files))
        | "SpreadFiles" >> beam.Reshuffle()
        | "SplitFiles" >> beam.FlatMap(lambda path: [(path, start, end) for start, end in split_warc(path, max_records, min_splits)])
        | "SpreadRanges" >> beam.Reshuffle()  # only (path, start, end) crosses this shuffle
        | "ProcessWarcRange" >> beam.ParDo(ProcessWarcRange(cfg, staging))  # emits counts and part paths, not rows
        | "MergeShards" >> MergeShards(staging, cfg.output)
        | "WriteStats" >> WriteJson(f"{staging}/{STATS_FILE}", sort_key="warc_file")
    )


def pipeline_options(runner: str, workers: int, extra: list[str]) -> PipelineOptions:
    """Runner choice is options only: DirectRunner runs multi_processing on this machine, anything else as given."""
    args = [f"--runner={runner}"]
    if runner == "DirectRunner":
        mode = "multi_processing" if workers > 1 else "in_memory"
        args += [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}",
                 # workers log Beam's chatter at WARNING, sieve's per-range progress at INFO
                 "--default_sdk_harness_log_level=WARNING", '--sdk_harness_log_level_overrides={"sieve": "INFO"}']
    return PipelineOptions(args + list(extra))


def run_job(files: list[str], cfg: Config, staging: str, runner: str = "DirectRunner", workers: int = 2) -> dict[str, int]:
    """Run the Beam job to completion, writing its outputs under staging; returns the job's sieve counters."""
    p = beam.Pipeline(options=pipeline_options(runner, workers, cfg.beam.options))
    build_pipeline(p, files, cfg, staging, workers)
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("sieve"))["counters"]
    return dict(sorted((c.key.metric.name, c.committed) for c in counters))

"""The one place where stages are wired into the Beam job, and how the job is run on any runner."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from schemas.config import Config
from schemas.tables import DROPPED, KEPT
from transforms import documents
from transforms.documents import ProcessWarcRange
from transforms.sinks import WriteJson, WriteShards
from transforms.warc import split_warc

STATS_FILE = "file_stats.json"


def build_pipeline(p: beam.Pipeline, files: list[str], cfg: Config, staging: str) -> None:
    """WARC files -> record ranges -> fused stage (read, extract, filters) -> kept/ and dropped/ Parquet + stats."""
    per_split = cfg.read.records_per_split
    results = (
        p
        | "InputFiles" >> beam.Create(sorted(files))
        | "SpreadFiles" >> beam.Reshuffle()
        | "SplitFiles" >> beam.FlatMap(lambda path: [(path, start, end) for start, end in split_warc(path, per_split)])
        | "SpreadRanges" >> beam.Reshuffle()  # only (path, start, end) crosses this shuffle, never HTML
        | "ProcessWarcRange" >> beam.ParDo(ProcessWarcRange(cfg)).with_outputs(documents.DROPPED, documents.STATS, main="kept")
    )
    results.kept | "WriteKept" >> WriteShards(KEPT, f"{staging}/kept", cfg.output)
    results[documents.DROPPED] | "WriteDropped" >> WriteShards(DROPPED, f"{staging}/dropped", cfg.output)
    results[documents.STATS] | "WriteStats" >> WriteJson(f"{staging}/{STATS_FILE}", sort_keys=("warc_file", "start"))


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
    build_pipeline(p, files, cfg, staging)
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("sieve"))["counters"]
    return dict(sorted((c.key.metric.name, c.committed) for c in counters))

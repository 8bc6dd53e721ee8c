"""Beam sink: per-range Parquet parts merged into one shard per input file, then the file's commit marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam

from sieve.schemas.config import OutputConfig
from sieve.transforms.parquet import merge_file


class MergeShards(beam.PTransform):
    """Range results -> one kept and one dropped shard per input file -> its commit marker (merge_file), run by call
    (fn, *args): in this worker, or in a range process when the worker is the launching process itself."""

    def __init__(self, run_dir: str, out: OutputConfig, call: Callable[..., Any]) -> None:
        super().__init__()
        self.run_dir, self.out, self.call = run_dir, out, call

    def _merge(self, keyed: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return self.call(merge_file, self.run_dir, self.out, list(keyed[1]))

    def expand(self, pcoll):
        return (
            pcoll
            | "KeyByFile" >> beam.Map(lambda r: (r["source"]["name"], r))
            | "GroupByFile" >> beam.GroupByKey()
            | "MergeParts" >> beam.Map(self._merge)
        )

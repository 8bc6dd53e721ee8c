"""Beam sinks: per-range Parquet parts merged into one shard per input file, and small JSON summaries."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from sieve.schemas.config import OutputConfig
from sieve.schemas.tables import TABLES
from sieve.transforms.parquet import shard_name, write_table


class MergeShards(beam.PTransform):
    """Range results -> one kept and one dropped shard per input file (rows in WARC order) + per-file counts."""

    def __init__(self, staging: str, out: OutputConfig) -> None:
        super().__init__()
        self.staging, self.out = staging, out

    def _merge(self, keyed: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
        warc_file, ranges = keyed
        ranges = sorted(ranges, key=lambda r: r["start"])
        for kind, schema in TABLES.items():
            parts = [r["parts"][kind] for r in ranges if kind in r["parts"]]
            if parts:
                table = pa.concat_tables(pq.read_table(p, schema=schema) for p in parts)
                write_table(table, schema, Path(self.staging) / kind / shard_name(warc_file),
                            None if self.out.compression == "none" else self.out.compression, self.out.row_group_rows)
                for p in parts:
                    os.remove(p)
        skipped: Counter = Counter()
        for r in ranges:
            skipped.update(r["skipped"])
        return {"warc_file": warc_file, "read": sum(r["read"] for r in ranges), "skipped": dict(skipped)}

    def expand(self, pcoll):
        return (pcoll
                | "KeyByFile" >> beam.Map(lambda r: (r["warc_file"], r))
                | "GroupByFile" >> beam.GroupByKey()
                | "MergeParts" >> beam.Map(self._merge))


class WriteJson(beam.PTransform):
    """Collect a small PCollection of dicts into one JSON list file, sorted for determinism."""

    def __init__(self, path: str, sort_key: str) -> None:
        super().__init__()
        self.path, self.sort_key = path, sort_key

    def _write(self, items: list[dict[str, Any]]) -> str:
        items = sorted(items, key=lambda d: d[self.sort_key])
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).write_text(json.dumps(items, indent=1, sort_keys=True), encoding="utf-8")
        return self.path

    def expand(self, pcoll):
        return pcoll | "Collect" >> beam.combiners.ToList() | "WriteJson" >> beam.Map(self._write)

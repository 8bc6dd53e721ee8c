"""Parquet and JSON sinks that write deterministic files: one shard per input file, rows in WARC order."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.config import OutputConfig


def shard_name(warc_file: str) -> str:
    """Readable, collision-free shard file name for an input file: its stem plus a hash of its full path."""
    stem = Path(warc_file).name.split(".")[0] or "input"
    return f"{stem}-{hashlib.blake2b(warc_file.encode(), digest_size=4).hexdigest()}.parquet"


def write_table(rows: list[dict[str, Any]], schema: pa.Schema, path: Path, out: OutputConfig) -> None:
    """Write rows to path atomically (temp file + rename) with the configured compression."""
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression=None if out.compression == "none" else out.compression,
                   row_group_size=out.row_group_rows)
    os.replace(tmp, path)


class WriteShards(beam.PTransform):
    """(warc_file, row) pairs -> one Parquet file per input file under directory, rows sorted by WARC offset."""

    def __init__(self, schema: pa.Schema, directory: str, out: OutputConfig) -> None:
        super().__init__()
        self.schema, self.directory, self.out = schema, directory, out

    def _write(self, keyed: tuple[str, list[dict[str, Any]]]) -> str:
        warc_file, rows = keyed
        rows = sorted(rows, key=lambda r: r["warc_offset"])
        path = Path(self.directory) / shard_name(warc_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_table(rows, self.schema, path, self.out)
        return str(path)

    def expand(self, pcoll):
        return pcoll | "GroupByFile" >> beam.GroupByKey() | "WriteParquet" >> beam.Map(self._write)


class WriteJson(beam.PTransform):
    """Collect a small PCollection of dicts into one JSON list file, sorted for determinism."""

    def __init__(self, path: str, sort_keys: tuple[str, ...]) -> None:
        super().__init__()
        self.path, self.sort_keys = path, sort_keys

    def _write(self, items: list[dict[str, Any]]) -> str:
        items = sorted(items, key=lambda d: tuple(d[k] for k in self.sort_keys))
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).write_text(json.dumps(items, indent=1, sort_keys=True), encoding="utf-8")
        return self.path

    def expand(self, pcoll):
        return pcoll | "Collect" >> beam.combiners.ToList() | "WriteJson" >> beam.Map(self._write)

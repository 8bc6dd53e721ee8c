"""Deterministic Parquet output: per-range parts written by workers, merged into one shard per input file."""
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
from schemas.tables import TABLES


def shard_name(warc_file: str) -> str:
    """Readable, collision-free shard file name for an input file: its stem plus a hash of its full path."""
    stem = Path(warc_file).name.split(".")[0] or "input"
    return f"{stem}-{hashlib.blake2b(warc_file.encode(), digest_size=4).hexdigest()}.parquet"


def part_path(staging: str, kind: str, warc_file: str, start: int) -> Path:
    """Where a worker writes the rows of one record range of one input file."""
    return Path(staging) / "parts" / kind / f"{shard_name(warc_file)[:-8]}-{start:015d}.parquet"


def progress_marker(staging: str, warc_file: str, start: int) -> Path:
    """A tiny file a worker writes when it finishes a range, so the orchestrator can show progress."""
    path = Path(staging) / "progress" / f"{shard_name(warc_file)[:-8]}-{start:015d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_table(rows: list[dict[str, Any]] | pa.Table, schema: pa.Schema, path: str | Path,
                compression: str | None, row_group_rows: int | None = None) -> None:
    """Write rows to path atomically (temp file + rename)."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=schema)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression=compression, row_group_size=row_group_rows)
    os.replace(tmp, path)


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
        skipped: dict[str, int] = {}
        for r in ranges:
            for warc_type, n in r["skipped"].items():
                skipped[warc_type] = skipped.get(warc_type, 0) + n
        return {"warc_file": warc_file, "read": sum(r["read"] for r in ranges), "skipped": skipped}

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

"""Deterministic Parquet files: where parts and shards live, and how they are written. No Beam here, so the
supervised range process (transforms/supervise.py) starts without importing it."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


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

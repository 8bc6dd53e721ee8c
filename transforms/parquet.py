"""The layout of a run folder and how its Parquet files are written. No Beam here, so the supervised range
process (transforms/supervise.py) starts without importing it.

    <run>/parts/<kind>/<shard>-<start>.parquet   one record range's rows (working file, merged then removed)
    <run>/progress/<shard>-<start>.json          a range is finished (working file, for the live progress line)
    <run>/<kind>/<shard>.parquet                 one kept and one dropped shard per input file
    <run>/done/<shard>.json                      the input file's commit marker, written after its shards
"""
from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from sieve.transforms import storage

WORKING = ("parts", "progress")


def shard_stem(name: str) -> str:
    """Readable, collision-free stem for an input file's outputs: its file stem plus a hash of its name."""
    stem = name.rsplit("/", 1)[-1].split(".")[0] or "input"
    return f"{stem}-{hashlib.blake2b(name.encode(), digest_size=4).hexdigest()}"


def shard_path(run_dir: str, kind: str, name: str) -> str:
    return storage.join(run_dir, kind, f"{shard_stem(name)}.parquet")


def part_path(run_dir: str, kind: str, name: str, start: int) -> str:
    """Where a worker writes the rows of one record range of one input file."""
    return storage.join(run_dir, "parts", kind, f"{shard_stem(name)}-{start:015d}.parquet")


def progress_marker(run_dir: str, name: str, start: int) -> str:
    """A tiny file a worker writes when it finishes a range, so the orchestrator can show progress."""
    return storage.join(run_dir, "progress", f"{shard_stem(name)}-{start:015d}.json")


def done_marker(run_dir: str, name: str) -> str:
    """The commit marker of one input file: present only once both its shards are written."""
    return storage.join(run_dir, "done", f"{shard_stem(name)}.json")


def write_rows(rows: list[dict[str, Any]], schema: pa.Schema, uri: str) -> None:
    """Write rows as one uncompressed Parquet part (compressed once, when merged into its shard)."""
    storage.write_parquet(uri, schema, [pa.Table.from_pylist(rows, schema=schema)], compression=None)

"""The layout of a run folder and how its Parquet files are written. No Beam here, so the supervised range
process (transforms/supervise.py) starts without importing it.

    <run>/parts/<kind>/<shard>-<start>-<end>.parquet   one record range's rows
    <run>/ranges/<shard>-<start>-<end>.json            the range's marker, written after its parts: its counts
    <run>/<kind>/<shard>.parquet                       one kept and one dropped shard per input file
    <run>/done/<shard>.json                            the input file's commit marker, written after its shards
    <run>/passes/<pass>.json                           a corpus pass's statistics (transforms/corpus.py)

Parts, range markers and pass statistics are working files, removed at the run's commit (the manifest keeps
the statistics). Until then they are what a rerun after a crash reuses: a range with a marker is not read again.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from sieve.schemas.config import PiiConfig, load_config
from sieve.transforms import storage

WORKING = ("parts", "ranges", "passes")


def shard_stem(name: str) -> str:
    """Readable, collision-free stem for an input file's outputs: its file stem plus a hash of its name."""
    stem = name.rsplit("/", 1)[-1].split(".")[0] or "input"
    return f"{stem}-{hashlib.blake2b(name.encode(), digest_size=4).hexdigest()}"


def shard_path(run_dir: str, kind: str, name: str) -> str:
    return storage.join(run_dir, kind, f"{shard_stem(name)}.parquet")


def _range(name: str, start: int, end: int) -> str:
    return f"{shard_stem(name)}-{start:015d}-{end:015d}"


def part_path(run_dir: str, kind: str, name: str, start: int, end: int) -> str:
    """Where a worker writes the rows of one record range of one input file."""
    return storage.join(run_dir, "parts", kind, f"{_range(name, start, end)}.parquet")


def range_marker(run_dir: str, name: str, start: int, end: int) -> str:
    """Written when a range's parts are: its counts and parts, for the merge, a resumed run and the progress line."""
    return storage.join(run_dir, "ranges", f"{_range(name, start, end)}.json")


def range_of(marker: str) -> tuple[str, int, int]:
    """(shard stem, start, end) of a range marker's location: the inverse of range_marker."""
    stem, start, end = marker.rsplit("/", 1)[1].removesuffix(".json").rsplit("-", 2)
    return stem, int(start), int(end)


def done_marker(run_dir: str, name: str) -> str:
    """The commit marker of one input file: present only once both its shards are written."""
    return storage.join(run_dir, "done", f"{shard_stem(name)}.json")


def write_rows(rows: list[dict[str, Any]], schema: pa.Schema, uri: str, pii: PiiConfig | None = None) -> None:
    """Scrub the rows' PII (filters/pii.py; pii None: the default settings), then write them as one uncompressed
    Parquet part (compressed once, when merged into its shard). Every row a run writes passes here first, kept or
    dropped, so no stage can write one unscrubbed; later passes only move or trim rows written here."""
    from sieve.filters.pii import scrubber

    scrubber(pii or load_config().pii).scrub_rows(rows, dropped="stage" in schema.names)
    storage.write_parquet(uri, schema, [pa.Table.from_pylist(rows, schema=schema)], compression=None)

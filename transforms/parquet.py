"""The layout of a run folder and how its Parquet files are written. No Beam here, so the supervised range
process (transforms/supervise.py) starts without importing it.

    <run>/parts/<kind>/<shard>-<start>-<end>.parquet   one record range's rows
    <run>/ranges/<shard>-<start>-<end>.json            the range's marker, written after its parts: its counts
    <run>/<kind>/<shard>.parquet                       one kept and one dropped shard per input file
    <run>/done/<shard>.json                            the input file's commit marker, written after its shards
    <run>/passes/<pass>.json                           a corpus pass's statistics (transforms/corpus.py)

Parts, range markers and pass statistics are working files, removed at the run's commit (the manifest keeps
the statistics). Until then they are what a rerun after a crash reuses: a range with a marker is not read again.
A marker lists each file it vouches for with its byte size and SHA-256 (file_entry), and a rerun reuses a file only
if it is still that file (damage): a torn, missing or replaced part or shard is redone, never merged or published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from typing import Any

import pyarrow as pa

from sieve.filters.pii import NO_TEXT, scrubber
from sieve.schemas.config import OutputConfig, PiiConfig, load_config
from sieve.schemas.tables import TABLES
from sieve.transforms import storage
from sieve.transforms.storage import StorageError

log = logging.getLogger("sieve")
# What tells the input a marker was written for from the one planned now; not its location, since the same crawl
# may be read from a laptop or a bucket.
INPUT_IDENTITY = ("name", "size", "mtime_ns", "sha256")
# A range marker's file name (range_marker); the temp file of a write killed part way starts with a dot.
RANGE_MARKER = re.compile(r"[^.].*-\d{15}-\d{15}\.json")

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


def is_range_marker(uri: str) -> bool:
    """Whether uri is a range marker's location, not a temp file that a killed write left beside the markers."""
    return RANGE_MARKER.fullmatch(uri.rsplit("/", 1)[-1]) is not None


def range_of(marker: str) -> tuple[str, int, int]:
    """(shard stem, start, end) of a range marker's location: the inverse of range_marker."""
    stem, start, end = marker.rsplit("/", 1)[1].removesuffix(".json").rsplit("-", 2)
    return stem, int(start), int(end)


def done_marker(run_dir: str, name: str) -> str:
    """The commit marker of one input file: present only once both its shards are written."""
    return storage.join(run_dir, "done", f"{shard_stem(name)}.json")


def file_entry(uri: str, run_dir: str, written: storage.Written) -> dict[str, Any]:
    """How a marker lists a file it vouches for: its path below run_dir, its byte size and its SHA-256."""
    return {"path": storage.relative(uri, run_dir), "bytes": written.size, "sha256": written.sha256}


def damage(run_dir: str, entry: dict[str, Any], listed: dict[str, int] | None = None) -> str | None:
    """Why the file a marker lists (entry, as file_entry made it) is no longer the file written: gone, torn (another
    size) or replaced (another SHA-256); None when it is intact. listed: sizes from a listing, to compare sizes only
    and read nothing; without it the file is read back and its SHA-256 compared too (when the marker records one)."""
    uri = storage.join(run_dir, entry["path"])
    if listed is not None:
        size, sha256 = listed.get(storage.absolute(uri)), None
    else:
        try:
            written = storage.checksum(uri)
        except StorageError:
            return f"{uri} is gone"
        size, sha256 = written.size, written.sha256
    if size is None:
        return f"{uri} is gone"
    if size != entry["bytes"]:
        return f"{uri} has {size} bytes where its marker records {entry['bytes']} (torn or replaced)"
    if sha256 is not None and entry.get("sha256", sha256) != sha256:
        return f"{uri} has another SHA-256 than its marker records (replaced or corrupted)"
    return None


def finished_range(run_dir: str, source: dict[str, Any], start: int, end: int) -> dict[str, Any] | None:
    """What an earlier, interrupted run recorded for this record range (its marker), if the range need not be read
    again: the marker is whole, was written for this same input (INPUT_IDENTITY) and every part it lists is intact
    (read back). None otherwise; a marker that is there but not trusted is logged, and its range redone."""
    marker = range_marker(run_dir, source["name"], start, end)
    if not storage.exists(marker):
        return None
    try:
        finished = json.loads(storage.read_text(marker))
        recorded = finished["source"]
        if any(recorded.get(key) != source.get(key) for key in INPUT_IDENTITY):
            problem = "it was finished for another version of the input file"
        else:
            problem = next(filter(None, (damage(run_dir, part) for part in finished["parts"].values())), None)
    except (StorageError, ValueError, KeyError, TypeError, AttributeError) as e:  # torn, or from another sieve
        problem = f"its marker {marker} cannot be read ({type(e).__name__}: {e})"
    if problem is not None:
        log.warning("sieve: %s@%d: reading this record range again: %s", source["name"], start, problem, extra=NO_TEXT)
        return None
    return {**finished, "source": source}


def write_rows(
    rows: list[dict[str, Any]], schema: pa.Schema, uri: str, pii: PiiConfig | None = None
) -> storage.Written:
    """Scrub the rows' PII (filters/pii.py; pii None: the default settings), then write them as one uncompressed
    Parquet part (compressed once, when merged into its shard). Every row a run writes passes here first, kept or
    dropped, so no stage can write one unscrubbed; later passes only move or trim rows written here."""
    scrubber(pii or load_config().pii).scrub_rows(rows, dropped="stage" in schema.names)
    return storage.write_parquet(uri, schema, [pa.Table.from_pylist(rows, schema=schema)], compression=None)


def merge_file(run_dir: str, out: OutputConfig, ranges: list[dict[str, Any]]) -> dict[str, Any]:
    """One input file's range results -> its kept and dropped shards (rows in WARC order) -> its commit marker, which
    is returned. The marker is written after the shards, so a file with a marker is finished whatever happens to the
    job after it: a rerun skips it. It records the input's identity and checksum, its counts and its shards (path,
    rows, bytes, SHA-256). The file's parts are removed after it (its small range markers stay for the progress line,
    until the run's commit)."""
    ranges = sorted(ranges, key=lambda r: r["start"])
    name = ranges[0]["source"]["name"]
    skipped: Counter = Counter()
    dropped: Counter = Counter()
    for r in ranges:
        skipped.update(r["skipped"])
        dropped.update(r["dropped"])
    rows = {"kept": sum(r["kept"] for r in ranges), "dropped": sum(dropped.values())}
    compression = None if out.compression == "none" else out.compression
    shards = {}
    for kind, schema in TABLES.items():
        parts = [storage.join(run_dir, r["parts"][kind]["path"]) for r in ranges if kind in r["parts"]]
        if parts:
            uri = shard_path(run_dir, kind, name)
            # Part by part: memory holds about one row group, not the whole file's text.
            written = storage.write_parquet(
                uri, schema, (storage.read_parquet(p, schema=schema) for p in parts), compression, out.row_group_rows
            )
            shards[kind] = {**file_entry(uri, run_dir, written), "rows": rows[kind]}
    marker = {
        **ranges[0]["source"],
        "read": sum(r["read"] for r in ranges),
        "kept": rows["kept"],
        "dropped": dict(sorted(dropped.items())),
        "skipped": dict(sorted(skipped.items())),
        "shards": shards,
    }
    storage.write_text(done_marker(run_dir, name), json.dumps(marker, indent=1, sort_keys=True))
    # Only now: until the file is committed, its parts are what a rerun after a crash would reuse.
    for r in ranges:
        for part in r["parts"].values():
            storage.delete(storage.join(run_dir, part["path"]))
    return marker

"""Processing one record range of a WARC file, start to finish: read, run the stages, write Parquet parts.

Plain Python (no Beam), so it runs the same inside a Beam worker or inside the supervised child process
of transforms/supervise.py.
"""

from __future__ import annotations

import json
import mmap
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

from sieve.filters.base import Filter, run_filters
from sieve.schemas.config import Config
from sieve.schemas.document import Drop
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import storage
from sieve.transforms.parquet import file_entry, part_path, range_marker, write_rows
from sieve.transforms.warc import read_warc

READING = -1  # stage index while a record is being read, before any filter runs
IDLE = -2


class Beacon:
    """Two int64 slots in a small shared file: the record offset being processed and its stage index.

    The child writes them before every record and stage (no syscall); the supervisor reads them to find a
    document that is stuck, without any message per document. The file has no name (see create): it goes with the
    last process that holds it, however that process ends.
    """

    _FORMAT = "<qq"

    def __init__(self, fd: int) -> None:
        """Map the beacon open at fd (create's file, or its descriptor passed on to a child process)."""
        self._map = mmap.mmap(fd, struct.calcsize(self._FORMAT))

    @classmethod
    def create(cls) -> tuple[Beacon, IO[bytes]]:
        """A new beacon on an unnamed temporary file: (the beacon, its file, to pass on by descriptor and close)."""
        file = tempfile.TemporaryFile(prefix="sieve-beacon-")
        file.write(struct.pack(cls._FORMAT, IDLE, IDLE))
        file.flush()
        return cls(file.fileno()), file

    def set(self, offset: int, stage: int) -> None:
        struct.pack_into(self._FORMAT, self._map, 0, offset, stage)

    def get(self) -> tuple[int, int]:
        return struct.unpack_from(self._FORMAT, self._map, 0)

    def close(self) -> None:
        self._map.close()


def process_range(
    cfg: Config,
    filters: list[Filter],
    run_dir: str,
    source: dict[str, Any],
    first: int,
    end: int,
    given_up: dict[int, Drop],
    beacon: Beacon | None = None,
    timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every record starting in [first, end) of the input file source (its uri, name, ...) through the stages
    and write the range's kept/dropped parts under run_dir.

    given_up maps record offsets to the drop a supervisor decided for them (a record that hung or crashed
    an earlier attempt); those records are dropped without running the stages again. timing (the worker's name, its
    warm-up seconds before this range) goes into the marker with the range's wall-clock start and end, for the run's
    phases (flows/phases.py); markers are working files, so no output depends on the clock.
    Returns the range's counts and part paths, also written as the range's marker after its parts.
    """
    began = time.time()
    rows: dict[str, list[dict[str, Any]]] = {"kept": [], "dropped": []}
    read, skipped, dropped = 0, Counter(), Counter()
    offset = first
    on_stage: Callable[[int], None] | None = None
    if beacon is not None:
        on_stage = lambda stage: beacon.set(offset, stage)  # noqa: E731 - reads the loop's current offset
        beacon.set(offset, READING)
    name = source["name"]
    for item in read_warc(source["uri"], cfg.read.max_payload_bytes, first, end, name=name):
        read += 1
        if item.doc is None:
            skipped[item.skipped_type] += 1
            continue
        offset = item.doc.warc_offset
        drop = item.drop or given_up.get(offset) or run_filters(item.doc, filters, on_stage)
        if drop is None:
            rows["kept"].append(item.doc.kept_row())
        else:
            dropped[f"{drop.stage}/{drop.reason}"] += 1
            rows["dropped"].append(item.doc.dropped_row(drop))
        if beacon is not None:
            beacon.set(offset, READING)  # reading the next record is attributed to this one's end
    if beacon is not None:
        beacon.set(IDLE, IDLE)
    parts = {}
    for kind, schema in (("kept", KEPT), ("dropped", DROPPED)):
        if rows[kind]:
            uri = part_path(run_dir, kind, name, first, end)
            parts[kind] = file_entry(uri, run_dir, write_rows(rows[kind], schema, uri, cfg.pii))
    result = {
        "source": source,
        "start": first,
        "end": end,
        "read": read,
        "kept": len(rows["kept"]),
        "dropped": dict(dropped),
        "skipped": dict(skipped),
        "parts": parts,
        "timing": {**(timing or {}), "began": began, "ended": time.time()},
    }
    storage.write_text(range_marker(run_dir, name, first, end), json.dumps(result, sort_keys=True))
    return result

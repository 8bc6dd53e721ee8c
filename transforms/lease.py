"""One writer per output: a run holds its output's lease while it writes, so a second run into the same output (a
cron run overlapping a manual rerun) fails at once, naming the holder, instead of merging or deleting its files.

The lease is a folder of numbered records, <output>/lease/<generation>.json (transforms/layout.py); the newest names
the run that holds the output (host, pid, start) and when its hold lapses. Every change (take, renew, take over,
release) writes the next number with a create that succeeds only if nothing is there yet (S3 If-None-Match: *, a
local hard link): of two runs that try at once exactly one gets it, with no read-then-write race, and the one
primitive serves every store. The holder renews from a thread; a run killed on another machine stops renewing and
its hold lapses duration_seconds later, one killed on this machine is seen to be dead at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sieve.schemas.config import LeaseConfig
from sieve.schemas.errors import OutputBusy, UsageError
from sieve.transforms import layout, storage
from sieve.transforms.storage import StorageError

log = logging.getLogger("sieve")
RECORD = re.compile(r"(\d{12})\.json")


@cache
def _machine() -> str | None:
    """This kernel boot and pid namespace: where a record's pid names a process this one can look up (None off Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """When process pid started (clock ticks after boot), which tells a reused pid apart; None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(stamp: str) -> str:
    return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")


def _stamped(record: dict[str, Any], expires: datetime, released: bool = False) -> dict[str, Any]:
    """record, renewed now, holding until expires (or released)."""
    return {**record, "renewed": _now().isoformat(), "expires": expires.isoformat(), "released": released}


def _live(record: dict[str, Any]) -> bool:
    """Whether the run that wrote record may still be writing: not released, not lapsed, not seen dead here."""
    if record["released"] or datetime.fromisoformat(record["expires"]) <= _now():
        return False
    if record["machine"] is not None and record["machine"] == _machine():
        return _process_start(record["pid"]) == record["process_start"]
    return True


def _records(folder: str) -> list[tuple[int, str]]:
    """(generation, location) of the lease records in folder, oldest first."""
    found = [(RECORD.fullmatch(f.uri.rsplit("/", 1)[-1]), f.uri) for f in storage.list_files(folder)]
    return sorted((int(m.group(1)), uri) for m, uri in found if m)


def _read(uri: str) -> dict[str, Any] | None:
    """A lease record; None when it is gone (cleared away by a renewal between a listing and this read)."""
    try:
        return json.loads(storage.read_text(uri))
    except StorageError:
        if storage.exists(uri):
            raise
        return None


def _current(folder: str) -> tuple[int, dict[str, Any] | None]:
    """The newest record's generation and contents; (0, None) before any run took the lease."""
    while True:
        records = _records(folder)
        if not records:
            return 0, None
        generation, uri = records[-1]
        if (record := _read(uri)) is not None:
            return generation, record


def _advance(folder: str, generation: int, record: dict[str, Any]) -> bool:
    """Write record as the generation after `generation`; False when another run wrote one first. A write whose answer
    was lost and that is tried again finds its own holder's record there: that counts as written."""
    uri = storage.join(folder, f"{generation + 1:012d}.json")
    if not storage.create_exclusive(uri, json.dumps(record, indent=1, sort_keys=True).encode()):
        there = _read(uri)
        if there is None or there["holder"] != record["holder"]:
            return False
    records = _records(folder)
    if records[-1][0] != generation + 1:  # a stale view: the lease had moved on and this number was cleared away
        storage.delete(uri)
        return False
    for _, older in records[:-1]:
        storage.delete(older)
    return True


def _busy(output: str, record: dict[str, Any], lost: bool = False) -> OutputBusy:
    holder = f"host {record['host']}, pid {record['pid']}, started {_shown(record['started'])}"
    if lost:
        return OutputBusy(
            f"lost the lease on {output} to another run ({holder}) while this run could not renew it; "
            "this run did not publish: let that run finish"
        )
    return OutputBusy(
        f"{output} is being written by another run ({holder}): wait for it to end, or stop it; "
        f"if it was killed on another machine, its lease lapses at {_shown(record['expires'])}"
    )


class Lease:
    """A held lease, renewed by a daemon thread every renew_seconds until released."""

    def __init__(self, output: str, generation: int, record: dict[str, Any], settings: LeaseConfig) -> None:
        self.output, self.generation, self.record, self.settings = output, generation, record, settings
        self.lost: OutputBusy | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="sieve-lease", daemon=True)
        self._thread.start()

    def _write(self, expires: datetime, released: bool = False) -> None:
        """Advance to the next record; raise OutputBusy naming the run that took the lease over meanwhile."""
        folder = layout.lease_dir(self.output)
        record = _stamped(self.record, expires, released)
        if not _advance(folder, self.generation, record):
            self.lost = _busy(self.output, _current(folder)[1], lost=True)
            raise self.lost
        self.generation, self.record = self.generation + 1, record

    def renew(self) -> None:
        """Extend the hold by duration_seconds from now; raise OutputBusy if another run took it over."""
        with self._lock:
            if self.lost is not None:
                raise self.lost
            self._write(_now() + timedelta(seconds=self.settings.duration_seconds))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.renew_seconds):
            try:
                self.renew()
            except StorageError as e:  # the store may answer again before the hold lapses
                log.warning(
                    "cannot renew the lease on %s (trying again in %s s): %s",
                    self.output,
                    self.settings.renew_seconds,
                    e,
                )
            except OutputBusy as e:
                log.error("%s", e)
                return

    def release(self) -> None:
        """Stop renewing and mark the lease released, so the next run takes it at once."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.lost is not None:
                return
            try:
                self._write(_now(), released=True)
            except (StorageError, OutputBusy) as e:
                log.warning("cannot release the lease on %s (it lapses by itself): %s", self.output, e)


def acquire(output: str, settings: LeaseConfig) -> Lease:
    """Take the lease on output, or raise OutputBusy naming the live run that holds it."""
    folder = layout.lease_dir(output)
    me = {
        "holder": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "machine": _machine(),
        "process_start": _process_start(os.getpid()),
        "started": _now().isoformat(),
    }
    while True:
        generation, current = _current(folder)
        if current is not None and _live(current):
            raise _busy(output, current)
        record = _stamped(me, _now() + timedelta(seconds=settings.duration_seconds))
        if _advance(folder, generation, record):
            if current is not None and not current["released"]:
                log.warning(
                    "took over the lease on %s from a run that stopped (host %s, pid %s)",
                    output,
                    current["host"],
                    current["pid"],
                )
            return Lease(output, generation + 1, record, settings)
        # another run wrote the next record first: read it and decide again


_held: dict[str, Lease] = {}  # this process's leases, by output location


@contextmanager
def holding(output: str, settings: LeaseConfig) -> Iterator[None]:
    """Hold output's lease for the block; released when the block ends, on an error too. Re-entrant within a process:
    `sieve run` takes it before the flow starts (to fail at once, in one line), and the flow, which a deployment
    starts too, takes it again."""
    key = storage.absolute(output)
    if key in _held:
        yield
        return
    if storage.is_remote(key) and not key.startswith("s3://"):
        log.warning("%s: gs:// outputs hold no lease; make sure no other run writes there meanwhile", output)
        yield
        return
    try:
        lease = acquire(key, settings)
    except StorageError as e:
        raise UsageError(f"cannot take the lease on {output}: {e}") from None
    _held[key] = lease
    try:
        yield
    finally:
        del _held[key]
        lease.release()


def confirm(output: str) -> None:
    """Renew the lease on output now, right before a commit; raise OutputBusy if another run took it over (this
    process stalled past its lease). Nothing to do where no lease is held (gs://)."""
    lease = _held.get(storage.absolute(output))
    if lease is not None:
        lease.renew()

"""Live progress of a running Beam job, read from the markers its workers write as they finish ranges."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sieve.flows.plan import InputFile
from sieve.flows.publish import finished_ranges
from sieve.transforms import storage


def progress_line(run_dir: str, files: list[InputFile], seconds: float, seen: dict[str, int] | None = None) -> str:
    """'42% of 27.3 MB, 1234 records (310/s), ETA 0:00:12' for files, from their finished-range markers.

    seen caches each marker's record count across calls, so a marker is read once, not every few seconds.
    """
    seen = {} if seen is None else seen
    total_bytes = sum(f.size for f in files)
    done_bytes = records = 0
    for marker, start, end in finished_ranges(run_dir, files):
        if marker not in seen:
            try:
                seen[marker] = json.loads(storage.read_text(marker))["read"]
            except (OSError, ValueError):
                continue  # gone or being written right now; counted next time
        done_bytes += end - start
        records += seen[marker]
    share = done_bytes / total_bytes if total_bytes else 1.0
    eta = f", ETA {time.strftime('%H:%M:%S', time.gmtime(seconds * (1 - share) / share))}" if 0 < share < 1 else ""
    return f"{share:.0%} of {total_bytes / 1e6:.1f} MB, {records} records ({records / max(seconds, 1e-9):.0f}/s){eta}"


@contextmanager
def watch_progress(
    run_dir: str, files: list[InputFile], log: logging.Logger | logging.LoggerAdapter, every_seconds: float = 10.0
) -> Iterator[None]:
    """Log a progress line every few seconds while the body runs."""
    stop = threading.Event()
    start = time.perf_counter()
    seen: dict[str, int] = {}

    def report() -> None:
        while not stop.wait(every_seconds):
            try:
                log.info("progress: %s", progress_line(run_dir, files, time.perf_counter() - start, seen))
            except OSError:  # an object store that did not answer this time; the next line will tell
                continue

    thread = threading.Thread(target=report, name="sieve-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

"""Live progress of a running Beam job, read from the markers its workers write as they finish ranges: a bar on a
terminal, a log line every few seconds elsewhere (transforms/progress.py)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sieve.flows.plan import InputFile
from sieve.flows.publish import finished_ranges
from sieve.transforms import storage
from sieve.transforms.progress import LOG_SECONDS, Progress

POLL_SECONDS = 2.0  # between two looks at the range markers for the bar (one listing of the ranges folder)


def finished_work(run_dir: str, files: list[InputFile], seen: dict[str, int] | None = None) -> tuple[int, int]:
    """(input bytes, records) of the files' finished ranges, from their markers.

    seen caches each marker's record count across calls, so a marker is read once, not every few seconds.
    """
    seen = {} if seen is None else seen
    done_bytes = records = 0
    for marker, start, end in finished_ranges(run_dir, files):
        if marker not in seen:
            try:
                seen[marker] = json.loads(storage.read_text(marker))["read"]
            except (OSError, ValueError):
                continue  # gone or being written right now; counted next time
        done_bytes += end - start
        records += seen[marker]
    return done_bytes, records


@contextmanager
def watch_progress(
    run_dir: str,
    files: list[InputFile],
    log: logging.Logger | logging.LoggerAdapter,
    every_seconds: float = POLL_SECONDS,
    log_seconds: float = LOG_SECONDS,
) -> Iterator[Progress]:
    """Show the job's progress in MB of input, with the records read, while the body runs."""
    stop = threading.Event()
    seen: dict[str, int] = {}
    total = sum(f.size for f in files) / 1e6
    with Progress("beam job", total, "MB", decimals=1, every_seconds=log_seconds, log=log) as progress:
        # Off a terminal the markers are looked at only as often as a line is written (fewer listings of a bucket).
        poll = every_seconds if progress.bar is not None else max(every_seconds, log_seconds)

        def report() -> None:
            while not stop.wait(poll):
                try:
                    done, records = finished_work(run_dir, files, seen)
                except OSError:  # an object store that did not answer this time; the next look will tell
                    continue
                progress.update(done / 1e6, f"{records:,} records ({records / max(progress.seconds, 1e-9):,.0f}/s)")

        thread = threading.Thread(target=report, name="sieve-progress", daemon=True)
        thread.start()
        try:
            yield progress
        finally:
            stop.set()
            thread.join()

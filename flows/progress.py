"""Live progress of a running Beam job, read from the markers its workers write as they finish ranges."""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sieve.transforms import storage


def progress_line(run_dir: str, total_bytes: int, seconds: float) -> str:
    """'42% of 27.3 MB, 1234 records (310/s), ETA 0:00:12' from the finished-range markers under run_dir."""
    done_bytes = records = 0
    for marker in storage.list_files(storage.join(run_dir, "progress")):
        try:
            done = json.loads(storage.read_text(marker.uri))
        except (OSError, ValueError):
            continue  # gone or being written right now; counted next time
        done_bytes += done["bytes"]
        records += done["records"]
    share = done_bytes / total_bytes if total_bytes else 1.0
    eta = f", ETA {time.strftime('%H:%M:%S', time.gmtime(seconds * (1 - share) / share))}" if 0 < share < 1 else ""
    return f"{share:.0%} of {total_bytes / 1e6:.1f} MB, {records} records ({records / max(seconds, 1e-9):.0f}/s){eta}"


@contextmanager
def watch_progress(run_dir: str, total_bytes: int, log: logging.Logger | logging.LoggerAdapter,
                   every_seconds: float = 10.0) -> Iterator[None]:
    """Log a progress line every few seconds while the body runs."""
    stop = threading.Event()
    start = time.perf_counter()

    def report() -> None:
        while not stop.wait(every_seconds):
            try:
                log.info("progress: %s", progress_line(run_dir, total_bytes, time.perf_counter() - start))
            except OSError:  # an object store that did not answer this time; the next line will tell
                continue

    thread = threading.Thread(target=report, name="sieve-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

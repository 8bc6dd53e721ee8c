"""The per-range Beam stage: each (file, start, end) range is read, run through every stage and written as parts."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from sieve.filters.pii import NO_TEXT
from sieve.schemas.config import Config
from sieve.transforms.parquet import finished_range

log = logging.getLogger("sieve")


class ProcessWarcRange(beam.DoFn):
    """Reading, extraction and filters fused in one step that writes its own rows.

    Input: (input file, start, end) byte ranges. Output: one small dict per range (counts and the paths of
    its kept/dropped Parquet parts), so neither HTML nor text crosses a Beam shuffle. With
    guard.document_timeout_seconds > 0 the range runs in a supervised child process (transforms/supervise.py).
    """

    def __init__(self, cfg: Config, run_dir: str) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        self.launcher_pid = os.getpid()  # the process that builds the job; its local workers end with it

    def setup(self) -> None:
        # the stages and presidio load in the workers, not in the launcher that builds the job
        from sieve.filters.pii import install_log_scrubber
        from sieve.transforms.lifecycle import die_with_parent
        from sieve.transforms.stages import build_filters
        from sieve.transforms.supervise import take_supervisor, worker_name

        began = time.time()
        die_with_parent(self.launcher_pid)  # a worker the command started ends with it; no-op in the command itself
        install_log_scrubber(self.cfg.pii)  # a log line quoting a document's text carries no PII
        self.counters: dict[str, Any] = {}
        if self.cfg.guard.document_timeout_seconds > 0:
            self.supervisor, self.filters = take_supervisor(self.cfg, self.run_dir), []
        else:
            self.supervisor, self.filters = None, build_filters(self.cfg)
        self.timing = {"worker": worker_name(), "warmup": round(time.time() - began, 3)}  # the first range's only

    def _count(self, name: str, n: int) -> None:
        if name not in self.counters:
            self.counters[name] = Metrics.counter("sieve", name)
        self.counters[name].inc(n)

    def process(self, warc_range: tuple[dict[str, Any], int, int]):
        from sieve.transforms.ranges import process_range

        source, first, end = warc_range
        # finished by an earlier run that was interrupted before its commit, and still whole
        if (finished := finished_range(self.run_dir, source, first, end)) is not None:
            self._count("ranges_reused", 1)
            yield finished
            return
        start = time.perf_counter()
        if self.supervisor is not None:
            result = self.supervisor.run(source, first, end)
        else:
            result = process_range(
                self.cfg, self.filters, self.run_dir, source, first, end, given_up={}, timing=self.timing
            )
            self.timing = {"worker": self.timing["worker"]}
        self._count("read", result["read"])
        self._count("kept", result["kept"])
        for reason, n in result["dropped"].items():
            self._count("dropped." + reason.replace("/", "."), n)
        for warc_type, n in result["skipped"].items():
            self._count(f"skipped.{warc_type}", n)
        seconds = time.perf_counter() - start
        log.info(
            "sieve: %s@%d: %d records in %.1f s (%.0f/s): %d kept, %d dropped, %d skipped",
            source["name"],
            first,
            result["read"],
            seconds,
            result["read"] / max(seconds, 1e-9),
            result["kept"],
            sum(result["dropped"].values()),
            sum(result["skipped"].values()),
            extra=NO_TEXT,
        )
        yield result

    def teardown(self) -> None:
        from sieve.transforms.supervise import release_supervisor

        if getattr(self, "supervisor", None) is not None:
            release_supervisor(self.supervisor)  # closed at exit, or taken by the next DoFn of this run

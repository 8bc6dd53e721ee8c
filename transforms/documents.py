"""The per-file stage: read a WARC file, run every document stage, emit kept rows, dropped rows and file stats."""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters.base import build_filters, run_filters
from schemas.config import Config
from transforms.warc import read_warc

DROPPED = "dropped"
STATS = "stats"
log = logging.getLogger("sieve")


class ProcessWarcRange(beam.DoFn):
    """Reading, extraction and filters fused in one step, so raw HTML never crosses a shuffle.

    Input: (warc_file, start, end) byte ranges. Main output: (warc_file, kept row).
    Tagged outputs: DROPPED (warc_file, dropped row), STATS (counts of the range).
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def setup(self) -> None:
        self.filters = build_filters(self.cfg)
        self.counters: dict[str, Any] = {}

    def _count(self, name: str, n: int = 1) -> None:
        if name not in self.counters:
            self.counters[name] = Metrics.counter("sieve", name)
        self.counters[name].inc(n)

    def process(self, warc_range: tuple[str, int, int | None]):
        path, first, end = warc_range
        start = time.perf_counter()
        read, kept, dropped, skipped = 0, 0, Counter(), Counter()
        for item in read_warc(path, self.cfg.read.max_payload_bytes, first, end):
            read += 1
            if item.doc is None:
                skipped[item.skipped_type] += 1
                self._count(f"skipped.{item.skipped_type}")
                continue
            drop = item.drop or run_filters(item.doc, self.filters)
            if drop is None:
                kept += 1
                yield path, item.doc.kept_row()
            else:
                dropped[f"{drop.stage}/{drop.reason}"] += 1
                self._count(f"dropped.{drop.stage}.{drop.reason}")
                yield beam.pvalue.TaggedOutput(DROPPED, (path, item.doc.dropped_row(drop)))
        self._count("read", read)
        self._count("kept", kept)
        seconds = time.perf_counter() - start
        log.info("sieve: %s@%d: %d records in %.1f s (%.0f/s): %d kept, %d dropped, %d skipped", path, first,
                 read, seconds, read / max(seconds, 1e-9), kept, sum(dropped.values()), sum(skipped.values()))
        yield beam.pvalue.TaggedOutput(STATS, {"warc_file": path, "start": first, "read": read, "skipped": dict(skipped)})

    def teardown(self) -> None:
        for f in getattr(self, "filters", []):
            if hasattr(f, "close"):
                f.close()

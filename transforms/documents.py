"""The per-range stage: read WARC records, run every document stage, write the range's rows as Parquet parts."""
from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters.base import build_filters, run_filters
from schemas.config import Config
from schemas.tables import DROPPED, KEPT
from transforms.sinks import part_path, progress_marker, write_table
from transforms.warc import read_warc

log = logging.getLogger("sieve")


class ProcessWarcRange(beam.DoFn):
    """Reading, extraction and filters fused in one step that writes its own rows.

    Input: (warc_file, start, end) byte ranges. Output: one small dict per range (counts and the paths of
    its kept/dropped Parquet parts), so neither HTML nor text crosses a Beam shuffle.
    """

    def __init__(self, cfg: Config, staging: str) -> None:
        self.cfg, self.staging = cfg, staging

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
        rows: dict[str, list[dict[str, Any]]] = {"kept": [], "dropped": []}
        read, skipped = 0, Counter()
        for item in read_warc(path, self.cfg.read.max_payload_bytes, first, end):
            read += 1
            if item.doc is None:
                skipped[item.skipped_type] += 1
                self._count(f"skipped.{item.skipped_type}")
                continue
            drop = item.drop or run_filters(item.doc, self.filters)
            if drop is None:
                rows["kept"].append(item.doc.kept_row())
            else:
                self._count(f"dropped.{drop.stage}.{drop.reason}")
                rows["dropped"].append(item.doc.dropped_row(drop))
        self._count("read", read)
        self._count("kept", len(rows["kept"]))
        parts = {}
        for kind, schema in (("kept", KEPT), ("dropped", DROPPED)):
            if rows[kind]:
                parts[kind] = str(part_path(self.staging, kind, path, first))
                write_table(rows[kind], schema, parts[kind], compression=None)  # compressed once, when merged
        span = (end if end is not None else os.path.getsize(path)) - first
        progress_marker(self.staging, path, first).write_text(json.dumps({"bytes": span, "records": read}))
        seconds = time.perf_counter() - start
        log.info("sieve: %s@%d: %d records in %.1f s (%.0f/s): %d kept, %d dropped, %d skipped", path, first, read,
                 seconds, read / max(seconds, 1e-9), len(rows["kept"]), len(rows["dropped"]), sum(skipped.values()))
        yield {"warc_file": path, "start": first, "read": read, "skipped": dict(skipped), "parts": parts}

    def teardown(self) -> None:
        for f in getattr(self, "filters", []):
            if hasattr(f, "close"):
                f.close()

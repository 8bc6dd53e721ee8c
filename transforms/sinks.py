"""Beam sink: per-range Parquet parts merged into one shard per input file, then the file's commit marker."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import apache_beam as beam

from sieve.schemas.config import OutputConfig
from sieve.schemas.tables import TABLES
from sieve.transforms import storage
from sieve.transforms.parquet import done_marker, file_entry, shard_path


class MergeShards(beam.PTransform):
    """Range results -> one kept and one dropped shard per input file (rows in WARC order) -> its commit marker.

    The marker is written after the shards, so a file with a marker is finished whatever happens to the job after
    it: a rerun skips it. It records the input's identity and checksum, its counts and its shards (path, rows, bytes,
    SHA-256). The file's parts are removed after it (its small range markers stay for the progress line, until the
    run's commit).
    """

    def __init__(self, run_dir: str, out: OutputConfig) -> None:
        super().__init__()
        self.run_dir, self.out = run_dir, out

    def _merge(self, keyed: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
        name, ranges = keyed
        ranges = sorted(ranges, key=lambda r: r["start"])
        skipped: Counter = Counter()
        dropped: Counter = Counter()
        for r in ranges:
            skipped.update(r["skipped"])
            dropped.update(r["dropped"])
        rows = {"kept": sum(r["kept"] for r in ranges), "dropped": sum(dropped.values())}
        compression = None if self.out.compression == "none" else self.out.compression
        shards = {}
        for kind, schema in TABLES.items():
            parts = [storage.join(self.run_dir, r["parts"][kind]["path"]) for r in ranges if kind in r["parts"]]
            if parts:
                uri = shard_path(self.run_dir, kind, name)
                # Part by part: memory holds about one row group, not the whole file's text.
                written = storage.write_parquet(
                    uri,
                    schema,
                    (storage.read_parquet(p, schema=schema) for p in parts),
                    compression,
                    self.out.row_group_rows,
                )
                shards[kind] = {**file_entry(uri, self.run_dir, written), "rows": rows[kind]}
        marker = {
            **ranges[0]["source"],
            "read": sum(r["read"] for r in ranges),
            "kept": rows["kept"],
            "dropped": dict(sorted(dropped.items())),
            "skipped": dict(sorted(skipped.items())),
            "shards": shards,
        }
        storage.write_text(done_marker(self.run_dir, name), json.dumps(marker, indent=1, sort_keys=True))
        # Only now: until the file is committed, its parts are what a rerun after a crash would reuse.
        for r in ranges:
            for part in r["parts"].values():
                storage.delete(storage.join(self.run_dir, part["path"]))
        return marker

    def expand(self, pcoll):
        return (
            pcoll
            | "KeyByFile" >> beam.Map(lambda r: (r["source"]["name"], r))
            | "GroupByFile" >> beam.GroupByKey()
            | "MergeParts" >> beam.Map(self._merge)
        )

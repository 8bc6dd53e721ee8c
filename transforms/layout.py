"""The layout of a sieve output folder, in one place, so every reader of a run asks here and none spells it again:

    <output>/manifest.json    the commit record, written last (flows/publish.py): its run folder and shards
    <output>/runs/<run>/      one run's files (transforms/parquet.py): <kind>/<shard>.parquet, done/, ...
    <output>/lease/           the writers' lease (transforms/lease.py): numbered records, the newest names the run
                              that holds the output (or held it last)

A reader is given either an output folder (it trusts only what the manifest lists) or a run folder itself.
"""

from __future__ import annotations

import json
from typing import Any

from sieve.transforms import storage

MANIFEST = "manifest.json"
RUNS = "runs"
LEASE = "lease"


def read_manifest(output: str) -> dict[str, Any] | None:
    """The manifest of an output folder; None before its first commit."""
    uri = storage.join(output, MANIFEST)
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None


def lease_dir(output: str) -> str:
    """The folder of an output's lease records (transforms/lease.py)."""
    return storage.join(output, LEASE)


def run_dir(output: str) -> str | None:
    """The run folder an output folder's manifest points to; None when it has no manifest."""
    manifest = read_manifest(output)
    return None if manifest is None else storage.join(output, manifest["run_dir"])


def shards(folder: str, kind: str = "kept") -> list[str] | None:
    """The Parquet shards of one kind ("kept" or "dropped") of an output folder (those its manifest lists) or of a
    run folder (its <kind>/ folder); None when folder is neither."""
    manifest = read_manifest(folder)
    if manifest is not None:
        return [storage.join(folder, path) for path in listed_shards(manifest, kind)]
    kind_dir = storage.join(folder, kind)
    if storage.is_dir(kind_dir):
        return [f.uri for f in storage.list_files(kind_dir) if f.uri.endswith(".parquet")]
    return None


def listed_shards(manifest: dict[str, Any], kind: str = "kept") -> list[str]:
    """The shards of one kind a manifest lists, as paths relative to its output folder."""
    return [shard["path"] for shard in manifest["shards"][kind]]

"""The layout of a sieve output folder, in one place, so every reader of a run asks here and none spells it again:

    <output>/manifest.json    the commit record, written last (flows/publish.py): its run folder and shards
    <output>/runs/<run>/      one run's files (transforms/parquet.py): <kind>/<shard>.parquet, done/, ...

A reader is given either an output folder (it trusts only what the manifest lists) or a run folder itself.
"""

from __future__ import annotations

import json
from typing import Any

from sieve.transforms import storage

MANIFEST = "manifest.json"
RUNS = "runs"


def read_manifest(output: str) -> dict[str, Any] | None:
    """The manifest of an output folder; None before its first commit."""
    uri = storage.join(output, MANIFEST)
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None


def run_dir(output: str) -> str | None:
    """The run folder an output folder's manifest points to; None when it has no manifest."""
    manifest = read_manifest(output)
    return None if manifest is None else storage.join(output, manifest["run_dir"])


def shards(folder: str, kind: str = "kept") -> list[str] | None:
    """The Parquet shards of one kind ("kept" or "dropped") of an output folder (those its manifest lists) or of a
    run folder (its <kind>/ folder); None when folder is neither."""
    manifest = read_manifest(folder)
    if manifest is not None:
        return [storage.join(folder, shard["path"]) for shard in manifest["shards"][kind]]
    kind_dir = storage.join(folder, kind)
    if storage.is_dir(kind_dir):
        return [f.uri for f in storage.list_files(kind_dir) if f.uri.endswith(".parquet")]
    return None

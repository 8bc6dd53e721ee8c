"""Where training documents come from: the document files of a run or of a training-shards folder, read a batch
at a time, with the stable per-document hash and the document count that the progress of the shard writer, the
tokenizer trainer and the token-file writer counts to."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from sieve.schemas.errors import UsageError
from sieve.transforms import layout, storage

MANIFEST = "shards.json"  # written by `sieve shards` (trainer/shards.py)
READ_BATCH_ROWS = 2000


@dataclass(frozen=True)
class Source:
    """One Parquet file of documents; language and split are known when it is a training shard."""

    uri: str
    language: str | None = None
    split: str | None = None


def doc_hash(doc_id: str, purpose: str) -> int:
    """A stable 64-bit hash of doc_id; purpose ("split", "order", "sample:0") makes independent hashes."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8, person=purpose.encode()[:16]).digest(), "big")


def input_files(source: str) -> list[Source]:
    """Document files of a training-shards folder (shards.json), a run output (manifest.json) or a run folder (kept/)."""
    shards = storage.join(source, MANIFEST)
    if storage.exists(shards):
        listed = json.loads(storage.read_text(shards))["shards"]
        return [Source(storage.join(source, s["path"]), s["language"], s["split"]) for s in listed]
    kept = layout.shards(source)
    if kept is not None:
        return [Source(uri) for uri in kept]
    raise UsageError(
        f"--input {source}: no {MANIFEST}, {layout.MANIFEST} or kept/ folder (give the --output of "
        f"`sieve run` or of `sieve shards`)"
    )


def read_batches(uri: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The file's rows, a few thousand at a time, so memory holds one batch and not the file."""
    try:
        with storage.open_input(uri) as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=READ_BATCH_ROWS, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise storage.storage_error(uri, "read", e) from None


def document_count(sources: list[Source]) -> int:
    """Documents in the sources, from their Parquet footers (one small read each): the total progress counts to."""
    total = 0
    for source in sources:
        try:
            with storage.open_input(source.uri) as f:
                total += pq.ParquetFile(f).metadata.num_rows
        except (OSError, pa.ArrowException) as e:
            raise storage.storage_error(source.uri, "read", e) from None
    return total

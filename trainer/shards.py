"""`sieve shards`: a run's kept documents as size-targeted training shards, one folder per language and split.

Deterministic: a document's split comes from a hash of its doc_id and its place from a second hash, so a rerun
writes byte-identical shards whatever order the input files are read in. Bounded memory: documents are spilled
to one Arrow file per output shard (the shard is chosen by the order hash), then each shard is sorted alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sieve.schemas.config import TrainingDataConfig
from sieve.schemas.tables import KEPT
from sieve.trainer.sources import MANIFEST, Source, doc_hash, document_count, input_files, read_batches
from sieve.trainer.tokenizer import Tokenizer
from sieve.transforms import storage
from sieve.transforms.progress import Progress

COLUMNS = ["doc_id", "url", "warc_file", "warc_offset", "language", "text"]
SCHEMA = pa.schema([KEPT.field(name) for name in COLUMNS])
SPLITS = ("train", "validation")
UNKNOWN_LANGUAGE = "und"  # a run without language id leaves the column null
_ORDER = "_order"  # the order hash, carried in the spill files only
HASH_SPACE = 1 << 64


def languages(batch: pa.RecordBatch) -> list[str]:
    return [lang or UNKNOWN_LANGUAGE for lang in batch.column("language").to_pylist()]


@dataclass
class _Language:
    """What the first pass learns of one language: documents and text bytes per split."""

    docs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    text_bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    first: tuple[int, str, int] | None = None  # (split hash, doc_id, text bytes) of the lowest split hash
    forced: bool = False  # first was moved to validation, which the fraction left empty


def _survey(sources: list[Source], fraction: float) -> dict[str, _Language]:
    """Pass 1 (ids and lengths only): documents and text bytes per language and split."""
    limit = fraction * HASH_SPACE
    found: dict[str, _Language] = {}
    with Progress("surveying", document_count(sources)) as progress:
        for source in sources:
            for batch in read_batches(source.uri, ["doc_id", "language", "text"]):
                sizes = pc.binary_length(batch.column("text")).to_pylist()
                for doc_id, lang, size in zip(batch.column("doc_id").to_pylist(), languages(batch), sizes):
                    entry = found.setdefault(lang, _Language())
                    h = doc_hash(doc_id, "split")
                    split = "validation" if h < limit else "train"
                    entry.docs[split] += 1
                    entry.text_bytes[split] += size
                    if entry.first is None or (h, doc_id) < entry.first[:2]:
                        entry.first = (h, doc_id, size)
                progress.advance(batch.num_rows)
    for entry in found.values():
        # A language with 2+ documents and none held out gives up its lowest-hash document to validation.
        if entry.first and entry.docs["train"] >= 2 and not entry.docs["validation"]:
            entry.forced = True
            for split, sign in (("train", -1), ("validation", 1)):
                entry.docs[split] += sign
                entry.text_bytes[split] += sign * entry.first[2]
    return found


def write_training_shards(
    source: str, output: str, cfg: TrainingDataConfig, tokenizer: str | None = None
) -> dict[str, Any]:
    """Write the kept documents of source as output/<lang>/<split>/shard-NNNNN.parquet and output/shards.json."""
    sources = input_files(source)
    found = _survey(sources, cfg.validation_fraction)
    forced = {e.first[1] for e in found.values() if e.forced and e.first}
    counts = {
        (lang, split): max(1, math.ceil(e.text_bytes[split] / cfg.target_bytes))
        for lang, e in found.items()
        for split in SPLITS
        if e.docs[split]
    }
    counter = Tokenizer(tokenizer) if tokenizer else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sieve-shards-") as spill_dir:
        spilled = _spill(sources, Path(spill_dir), counts, cfg.validation_fraction, forced)
        shards = [
            _write_shard(path, storage.join(output, _shard_name(*key)), key, cfg, counter)
            for key, path in sorted(spilled.items())
        ]
    for shard in shards:
        shard["path"] = storage.relative(shard["path"], output)
    manifest = {
        "source": storage.absolute(source),
        "token_unit": f"sentencepiece tokens of {storage.absolute(tokenizer)}" if tokenizer else "whitespace words",
        "target_bytes": cfg.target_bytes,
        "validation_fraction": cfg.validation_fraction,
        "documents": sum(s["rows"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "shards": shards,
    }
    storage.write_text(storage.join(output, MANIFEST), json.dumps(manifest, indent=2) + "\n")
    manifest["seconds"] = time.perf_counter() - start
    return manifest


def _shard_name(lang: str, split: str, index: int) -> str:
    return f"{lang}/{split}/shard-{index:05d}.parquet"


def _spill(
    sources: list[Source], folder: Path, counts: dict[tuple[str, str], int], fraction: float, forced: set[str]
) -> dict[tuple[str, str, int], Path]:
    """Pass 2: every document appended to the spill file of its shard, chosen by its order hash."""
    limit = fraction * HASH_SPACE
    schema = SCHEMA.append(pa.field(_ORDER, pa.uint64()))
    writers: dict[tuple[str, str, int], pa.ipc.RecordBatchStreamWriter] = {}
    paths: dict[tuple[str, str, int], Path] = {}
    progress = Progress("sharding", document_count(sources))
    try:
        for source in sources:
            for batch in read_batches(source.uri, COLUMNS):
                groups: dict[tuple[str, str, int], list[int]] = {}
                orders = []
                for row, (doc_id, lang) in enumerate(zip(batch.column("doc_id").to_pylist(), languages(batch))):
                    split = "validation" if doc_hash(doc_id, "split") < limit or doc_id in forced else "train"
                    order = doc_hash(doc_id, "order")
                    orders.append(order)
                    groups.setdefault((lang, split, order * counts[lang, split] // HASH_SPACE), []).append(row)
                table = pa.Table.from_batches([batch]).cast(SCHEMA).append_column(_ORDER, pa.array(orders, pa.uint64()))
                for key, rows in groups.items():
                    if key not in writers:
                        paths[key] = folder / f"{len(paths)}.arrow"
                        writers[key] = pa.ipc.new_stream(str(paths[key]), schema)
                    writers[key].write_table(table.take(rows))
                progress.advance(batch.num_rows)
    finally:
        progress.close()
        for writer in writers.values():
            writer.close()
    return paths


def _write_shard(
    spill: Path, uri: str, key: tuple[str, str, int], cfg: TrainingDataConfig, counter: Any
) -> dict[str, Any]:
    """Pass 3: one shard's documents sorted by order hash and written as Parquet; its manifest entry."""
    with pa.ipc.open_stream(str(spill)) as reader:
        table = reader.read_all()
    table = table.sort_by(
        [(_ORDER, "ascending"), ("doc_id", "ascending"), ("warc_file", "ascending"), ("warc_offset", "ascending")]
    ).drop_columns([_ORDER])
    text_bytes = pc.sum(pc.binary_length(table.column("text"))).as_py() or 0
    rows_per_group = max(1, min(cfg.row_group_rows, cfg.row_group_bytes * table.num_rows // max(text_bytes, 1)))
    storage.write_parquet(
        uri, SCHEMA, [table], None if cfg.compression == "none" else cfg.compression, row_group_rows=rows_per_group
    )
    if counter is not None:
        tokens = sum(len(ids) for ids in counter.encode(table.column("text").to_pylist()))
    else:
        tokens = pc.sum(pc.list_value_length(pc.utf8_split_whitespace(table.column("text")))).as_py() or 0
    return {
        "path": uri,
        "language": key[0],
        "split": key[1],
        "rows": table.num_rows,
        "text_bytes": text_bytes,
        "bytes": storage.stat(uri).size,
        "sha256": sha256(uri),
        "tokens": tokens,
    }


def sha256(uri: str) -> str:
    digest = hashlib.sha256()
    with storage.open_input(uri) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

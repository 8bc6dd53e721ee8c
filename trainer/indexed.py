"""`sieve tokenize`: training shards as Megatron indexed-dataset token files (.bin/.idx), one pair per language and split.

Format (Megatron-LM's MMIDIDX, version 1): .bin holds the token ids of every document back to back, each document
ending with the end-of-document id; .idx holds the header, then int32 document lengths, int64 byte offsets into
.bin and int64 document indices (one sequence per document). Beside each pair, <prefix>.docs.parquet maps
entry i to the crawl record it came from.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sieve.schemas.config import TrainingDataConfig
from sieve.schemas.errors import UsageError
from sieve.schemas.tables import KEPT
from sieve.trainer.shards import write_training_shards
from sieve.trainer.sources import MANIFEST, Source, document_count, input_files, read_batches
from sieve.trainer.tokenizer import Tokenizer, train_tokenizer
from sieve.transforms import storage
from sieve.transforms.progress import Progress

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron's dtype codes (megatron.core.datasets.indexed_dataset.DType).
DTYPE_CODES = {
    np.uint8: 1,
    np.int8: 2,
    np.int16: 3,
    np.int32: 4,
    np.int64: 5,
    np.float64: 6,
    np.float32: 7,
    np.uint16: 8,
}
UINT16_VOCAB_LIMIT = 65500  # Megatron's own cut-off for uint16 token ids
SIDE_TABLE = pa.schema([KEPT.field(name) for name in ("doc_id", "warc_file", "warc_offset", "url")])
DECONTAMINATED = pa.schema(
    [KEPT.field(name) for name in ("doc_id", "url", "warc_file", "warc_offset", "language")]
    + [
        pa.field("split", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("ngram", pa.string()),
        pa.field("eval_file", pa.string()),
    ]
)
SUMMARY = "tokens.json"
WORD = re.compile(r"\w+")


def token_dtype(vocab_size: int) -> type[np.integer]:
    """uint16 ids while the vocabulary fits (half the bytes), int32 beyond: Megatron's rule."""
    return np.uint16 if vocab_size < UINT16_VOCAB_LIMIT else np.int32


class IndexedTokenWriter:
    """Appends documents to <prefix>.bin as they come; writes <prefix>.idx on close (its arrays are small)."""

    def __init__(self, prefix: str, dtype: type[np.integer]) -> None:
        self.prefix, self.dtype = prefix, np.dtype(dtype).type
        self.bin = open(prefix + ".bin", "wb")
        self.lengths: list[np.ndarray] = []

    def add(self, ids: Iterable[int]) -> None:
        array = np.asarray(ids, dtype=self.dtype)
        self.bin.write(array.tobytes())
        self.lengths.append(np.array([len(array)], dtype=np.int32))

    def append_file(self, bin_path: str, lengths: np.ndarray) -> None:
        """Append an already written run of documents (a worker's part file) with their lengths."""
        with open(bin_path, "rb") as part:
            shutil.copyfileobj(part, self.bin, 8 << 20)
        self.lengths.append(lengths.astype(np.int32))

    def close(self) -> None:
        self.bin.close()
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int32)
        write_index(self.prefix + ".idx", self.dtype, lengths)

    def __enter__(self) -> IndexedTokenWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_index(path: str, dtype: type[np.integer], lengths: np.ndarray) -> None:
    """The .idx file of documents with these token counts, one sequence per document."""
    pointers = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize, out=pointers[1:])
    document_indices = np.arange(len(lengths) + 1, dtype=np.int64)
    with open(path, "wb") as f:
        f.write(INDEX_HEADER)
        f.write(struct.pack("<Q", INDEX_VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(lengths)))
        f.write(struct.pack("<Q", len(document_indices)))
        f.write(lengths.astype(np.int32).tobytes())
        f.write(pointers.tobytes())
        f.write(document_indices.tobytes())


class IndexedTokens:
    """A .bin/.idx pair memory-mapped: tokens[i] is document i's ids (end-of-document id included)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        with open(prefix + ".idx", "rb") as f:
            header = f.read(len(INDEX_HEADER))
            if header != INDEX_HEADER:
                raise ValueError(f"{prefix}.idx: not a Megatron index (header {header!r})")
            version, code, count, doc_count = struct.unpack("<QBQQ", f.read(25))
            if version != INDEX_VERSION:
                raise ValueError(f"{prefix}.idx: index version {version}, expected {INDEX_VERSION}")
            offset = f.tell()
        self.dtype = next(dtype for dtype, c in DTYPE_CODES.items() if c == code)
        index = np.memmap(prefix + ".idx", mode="r", offset=offset, dtype=np.uint8)
        self.lengths = index[: count * 4].view(np.int32)
        self.pointers = index[count * 4 : count * 12].view(np.int64)
        self.document_indices = index[count * 12 : count * 12 + doc_count * 8].view(np.int64)
        size = os.path.getsize(prefix + ".bin")
        self.tokens = np.memmap(prefix + ".bin", mode="r", dtype=self.dtype) if size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // np.dtype(self.dtype).itemsize
        return self.tokens[start : start + int(self.lengths[i])]

    def docs(self) -> pa.Table:
        """The side table: row i is the crawl record (doc_id, warc_file, warc_offset, url) of document i."""
        return pq.read_table(self.prefix + ".docs.parquet")


@dataclass(frozen=True)
class _Job:
    source: Source
    part: str  # local prefix of the worker's part files


_worker: dict[str, Any] = {}


def _init_worker(tokenizer: str, ngrams: dict[str, str], n: int) -> None:
    _worker.update(tokenizer=Tokenizer(tokenizer), ngrams=ngrams, n=n)


def word_ngrams(text: str, n: int) -> Iterable[str]:
    """Lowercased word n-grams joined by spaces (the unit decontamination matches on)."""
    words = WORD.findall(text.lower())
    return (" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def _tokenize_shard(job: _Job) -> dict[str, Any]:
    """Worker: one shard's documents tokenized into <part>.bin; their lengths, side rows and decontaminated rows."""
    tokenizer: Tokenizer = _worker["tokenizer"]
    ngrams, n = _worker["ngrams"], _worker["n"]
    dtype = token_dtype(tokenizer.vocab_size)
    lengths: list[int] = []
    side: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    with open(job.part + ".bin", "wb") as out:
        for batch in read_batches(job.source.uri, ["doc_id", "url", "warc_file", "warc_offset", "text"]):
            rows = batch.to_pylist()
            keep = []
            for row in rows:
                hit = next((g for g in word_ngrams(row["text"], n) if g in ngrams), None) if ngrams else None
                if hit is None:
                    keep.append(row)
                else:
                    dropped.append(
                        {
                            **{k: row[k] for k in ("doc_id", "url", "warc_file", "warc_offset")},
                            "language": job.source.language,
                            "split": job.source.split,
                            "reason": "decontamination",
                            "ngram": hit,
                            "eval_file": ngrams[hit],
                        }
                    )
            for row, ids in zip(keep, tokenizer.encode([row["text"] for row in keep])):
                ids.append(tokenizer.eod_id)
                out.write(np.asarray(ids, dtype=dtype).tobytes())
                lengths.append(len(ids))
                side.append({k: row[k] for k in SIDE_TABLE.names})
    return {"part": job.part, "lengths": np.array(lengths, dtype=np.int32), "side": side, "dropped": dropped}


def eval_ngrams(files: list[str], n: int) -> dict[str, str]:
    """Every word n-gram of the evaluation files, mapped to the file it came from."""
    found: dict[str, str] = {}
    for path in files:
        if not storage.is_file(path):
            raise UsageError(f"--decontaminate {path}: not found (give evaluation sets as UTF-8 text files)")
        for gram in word_ngrams(storage.read_text(path), n):
            found.setdefault(gram, path)
    return found


def tokenize(
    source: str,
    output: str,
    cfg: TrainingDataConfig,
    tokenizer: str | None = None,
    decontaminate: list[str] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Token files output/<lang>_<split>.bin/.idx/.docs.parquet of source (training shards, or a run output cut
    into output/shards first); trains output/tokenizer when none is given."""
    if storage.is_remote(output):
        raise UsageError(f"--output {output}: token files are memory-mapped, give a local folder (copy it up after)")
    os.makedirs(output, exist_ok=True)
    if not storage.exists(storage.join(source, MANIFEST)):
        shards = os.path.join(output, "shards")
        write_training_shards(source, shards, cfg, tokenizer)
        source = shards
    if tokenizer is None:
        tokenizer = os.path.join(output, "tokenizer")
        train_tokenizer(source, tokenizer, cfg.tokenizer)
    vocab = Tokenizer(tokenizer)
    ngrams = eval_ngrams(decontaminate or [], cfg.decontamination_ngram)
    sources = sorted(input_files(source), key=lambda s: (s.language, s.split, s.uri))
    parts = Path(output, ".parts")
    parts.mkdir(exist_ok=True)
    jobs = [_Job(s, str(parts / str(i))) for i, s in enumerate(sources)]
    result = _write_token_files(jobs, output, vocab, ngrams, cfg.decontamination_ngram, workers or cfg.workers)
    shutil.rmtree(parts)
    result.update(
        workers=workers or cfg.workers,
        source=storage.absolute(source),
        tokenizer=vocab.path,
        eod_id=vocab.eod_id,
        vocab_size=vocab.vocab_size,
        dtype=np.dtype(token_dtype(vocab.vocab_size)).name,
        decontamination_ngram=cfg.decontamination_ngram,
        eval_files=decontaminate or [],
    )
    Path(output, SUMMARY).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _write_token_files(
    jobs: list[_Job], output: str, vocab: Tokenizer, ngrams: dict[str, str], n: int, workers: int
) -> dict[str, Any]:
    """Workers tokenize shards in parallel; their parts are appended in shard order to one pair per language/split."""
    files: dict[str, dict[str, Any]] = {}
    dropped: list[dict[str, Any]] = []
    writer: IndexedTokenWriter | None = None
    side: pq.ParquetWriter | None = None
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked pyarrow/sentencepiece threads
    with (
        Progress("tokenizing", document_count([job.source for job in jobs])) as progress,
        ctx.Pool(workers, initializer=_init_worker, initargs=(vocab.path, ngrams, n)) as pool,
    ):
        for job, part in zip(jobs, pool.imap(_tokenize_shard, jobs)):
            name = f"{job.source.language}_{job.source.split}"
            if name not in files:
                for done in (writer, side):
                    if done is not None:
                        done.close()
                prefix = os.path.join(output, name)
                writer = IndexedTokenWriter(prefix, token_dtype(vocab.vocab_size))
                side = pq.ParquetWriter(prefix + ".docs.parquet", SIDE_TABLE, compression="zstd")
                files[name] = {
                    "prefix": name,
                    "language": job.source.language,
                    "split": job.source.split,
                    "documents": 0,
                    "tokens": 0,
                }
            writer.append_file(part["part"] + ".bin", part["lengths"])
            side.write_table(pa.Table.from_pylist(part["side"], SIDE_TABLE))
            os.remove(part["part"] + ".bin")
            files[name]["documents"] += len(part["lengths"])
            files[name]["tokens"] += int(part["lengths"].sum())
            dropped += part["dropped"]
            tokens = sum(f["tokens"] for f in files.values())
            progress.advance(len(part["lengths"]) + len(part["dropped"]), f"{tokens:,} tokens")
    for done in (writer, side):
        if done is not None:
            done.close()
    if dropped:
        pq.write_table(pa.Table.from_pylist(dropped, DECONTAMINATED), os.path.join(output, "decontaminated.parquet"))
    return {
        "documents": sum(f["documents"] for f in files.values()),
        "tokens": sum(f["tokens"] for f in files.values()),
        "decontaminated": len(dropped),
        "seconds": progress.seconds,
        "files": list(files.values()),
    }

"""Megatron token files (sieve tokenize): the .idx layout, round trips, the side table, decontamination, and
Megatron's own reader on our files."""

from __future__ import annotations

import json
import logging
import re
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sieve.flows.cli import main
from sieve.schemas.config import load_config
from sieve.trainer.indexed import IndexedTokens, IndexedTokenWriter, tokenize, word_ngrams
from sieve.trainer.tokenizer import Tokenizer

VOCAB = 1500


@pytest.fixture(scope="module")
def run(synth_run) -> Path:
    """The session's real Beam run of the synthetic corpus (tests/conftest.py)."""
    return synth_run


@pytest.fixture(scope="module")
def tokens(run, tmp_path_factory) -> Path:
    """`sieve tokenize` of the run: shards, a tokenizer trained on them, then the token files."""
    out = tmp_path_factory.mktemp("tokens") / "out"
    assert main(["tokenize", "--input", str(run), "--output", str(out), "--vocab-size", str(VOCAB)]) == 0
    return out


def _texts(out: Path) -> dict[str, str]:
    table = pq.read_table([str(p) for p in (out / "shards").rglob("*.parquet")], columns=["doc_id", "text"])
    return dict(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))


def test_tokenize_scales_the_default_vocabulary_to_a_small_run_and_warns(run, tmp_path, caplog):
    """32000 pieces is more than a few hundred documents can fill (SentencePiece refuses it): the vocabulary is cut
    to what the text holds, with a warning that names the size the tokenizer then has."""
    out = tmp_path / "out"
    default = load_config().training_data.tokenizer.vocab_size
    with caplog.at_level(logging.WARNING, logger="sieve"):
        assert main(["tokenize", "--input", str(run), "--output", str(out)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tokenizer:")]
    assert len(warnings) == 1 and f"too few for {default} pieces" in warnings[0]
    pieces = int(re.search(r"training (\d+) pieces", warnings[0]).group(1))
    info = json.loads((out / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    assert Tokenizer(str(out / "tokenizer")).vocab_size == info["vocab_size"] == pieces < default
    assert info["requested_vocab_size"] == default
    assert json.loads((out / "tokens.json").read_text(encoding="utf-8"))["tokens"] > 0


def test_idx_layout_matches_megatron_field_by_field(tokens):
    raw = (tokens / "en_train.idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, sequences, documents = struct.unpack_from("<QBQQ", raw, 9)
    assert (version, code) == (1, 8)  # uint16: the vocabulary is below 65500
    assert documents == sequences + 1
    pos = 9 + 25
    lengths = struct.unpack_from(f"<{sequences}i", raw, pos)
    pointers = struct.unpack_from(f"<{sequences}q", raw, pos + 4 * sequences)
    doc_index = struct.unpack_from(f"<{documents}q", raw, pos + 12 * sequences)
    assert len(raw) == pos + 12 * sequences + 8 * documents
    assert list(doc_index) == list(range(sequences + 1))
    assert pointers[0] == 0 and all(pointers[i + 1] - pointers[i] == 2 * lengths[i] for i in range(sequences - 1))
    assert (tokens / "en_train.bin").stat().st_size == 2 * sum(lengths)


def test_documents_round_trip_with_the_end_of_document_id_and_side_table_lines_up(tokens):
    tok = Tokenizer(str(tokens / "tokenizer"))
    texts = _texts(tokens)
    summary = json.loads((tokens / "tokens.json").read_text())
    assert summary["documents"] == len(texts) and summary["eod_id"] == tok.eod_id
    for f in summary["files"]:
        data = IndexedTokens(str(tokens / f["prefix"]))
        side = data.docs()
        assert len(data) == side.num_rows == f["documents"] > 0
        for i, doc_id in enumerate(side.column("doc_id").to_pylist()):
            ids = data[i]
            assert ids[-1] == tok.eod_id and tok.decode(ids[:-1].tolist()) == texts[doc_id]
        assert side.column_names == ["doc_id", "warc_file", "warc_offset", "url"]


def test_int32_and_uint16_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for vocab, dtype, code in ((100_000, np.int32, 4), (VOCAB, np.uint16, 8)):
        docs = [rng.integers(0, vocab, size=n) for n in (5, 1, 300, 17)]
        prefix = str(tmp_path / f"v{vocab}")
        with IndexedTokenWriter(prefix, dtype) as writer:
            for doc in docs:
                writer.add(doc)
        assert struct.unpack_from("<B", Path(prefix + ".idx").read_bytes(), 17)[0] == code
        read = IndexedTokens(prefix)
        assert len(read) == len(docs) and read.dtype == dtype
        assert all(np.array_equal(read[i], doc) for i, doc in enumerate(docs))
    assert max(IndexedTokens(str(tmp_path / "v100000"))[2]) >= 65536  # ids only int32 can hold


def test_decontamination_drops_exactly_the_documents_sharing_a_13_gram(run, tokens, tmp_path):
    texts = _texts(tokens)
    doc_a, doc_b = sorted(texts)[:2]
    gram = next(iter(word_ngrams(texts[doc_a], 13)))
    twelve = " ".join(next(iter(word_ngrams(texts[doc_b], 12))).split())
    shared_elsewhere = {d for d, t in texts.items() if gram in set(word_ngrams(t, 13))}
    eval_file = tmp_path / "eval.txt"
    eval_file.write_text(f"Question: {gram.upper()}?\n\nunrelated: {twelve}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = tokenize(
        str(tokens / "shards"), str(out), load_config().training_data, str(tokens / "tokenizer"), [str(eval_file)]
    )
    dropped = pq.read_table(out / "decontaminated.parquet").to_pylist()
    assert {r["doc_id"] for r in dropped} == shared_elsewhere and doc_a in shared_elsewhere
    assert all(r["reason"] == "decontamination" and r["ngram"] == gram for r in dropped)
    assert result["decontaminated"] == len(dropped)
    assert result["documents"] == len(texts) - len(dropped)
    kept = {
        i for f in result["files"] for i in pq.read_table(out / f"{f['prefix']}.docs.parquet")["doc_id"].to_pylist()
    }
    assert doc_b in kept and not kept & shared_elsewhere


def test_megatron_reads_every_document_of_our_files(tokens, tmp_path):
    pytest.importorskip("torch")
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    with IndexedTokenWriter(str(tmp_path / "wide"), np.int32) as writer:
        for n in (3, 70_000, 1):
            writer.add(np.arange(n) + 65_000)
    for prefix in [str(tokens / f["prefix"]) for f in json.loads((tokens / "tokens.json").read_text())["files"]] + [
        str(tmp_path / "wide")
    ]:
        ours, theirs = IndexedTokens(prefix), indexed.IndexedDataset(prefix)
        assert len(theirs) == len(ours)
        assert all(np.array_equal(theirs[i], ours[i]) for i in range(len(ours)))
        assert np.array_equal(theirs.document_indices, ours.document_indices)

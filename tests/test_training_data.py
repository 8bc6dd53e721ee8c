"""Training shards (sieve shards) and the tokenizer (sieve tokenizer train) on a real run of the synthetic corpus."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sieve.flows.cli import main
from sieve.schemas.config import load_config
from sieve.trainer.shards import write_training_shards
from sieve.trainer.sources import doc_hash
from sieve.trainer.tokenizer import Tokenizer, train_tokenizer

# Every Vietnamese vowel with every tone mark, đ/Đ, and characters no crawl sample trains on.
VIETNAMESE = (
    "Tiếng Việt có sáu thanh: ma, mà, má, mả, mã, mạ. "
    + " ".join(v + t for v in "aăâeêioôơuưy" for t in ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"))
    + "\nĐường phố Hà Nội, Huế, Đà Nẵng — khuya lắm rồi; ỷ ỹ ỵ Ỵ Ữ Ự ẳ ẵ 😀 ₫ ‰\n"
)


@pytest.fixture(scope="module")
def run(synth_run) -> Path:
    """The session's real Beam run of the synthetic corpus (tests/conftest.py)."""
    return synth_run


@pytest.fixture(scope="module")
def kept(run) -> dict[str, dict]:
    table = pq.read_table(run / "kept", columns=["doc_id", "language", "text"])
    return {row["doc_id"]: row for row in table.to_pylist()}


def _cfg(**update):
    return load_config().training_data.model_copy(update=update)


@pytest.fixture(scope="module")
def tokenizer(run, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("tok"))
    train_tokenizer(str(run), out, _cfg().tokenizer.model_copy(update={"vocab_size": 1500}))
    return out


def test_shards_hold_every_kept_document_once_split_by_language(run, kept, tmp_path):
    manifest = write_training_shards(str(run), str(tmp_path), _cfg(target_bytes=60_000))
    seen = []
    for shard in manifest["shards"]:
        assert shard["path"].startswith(f"{shard['language']}/{shard['split']}/shard-")
        table = pq.read_table(tmp_path / shard["path"])
        assert set(table.column("language").to_pylist()) == {shard["language"]}
        seen += table.column("doc_id").to_pylist()
    assert sorted(seen) == sorted(kept)
    assert {s["language"] for s in manifest["shards"]} == {"en", "vi"}


def test_each_language_gets_a_validation_document_and_shards_near_the_target(run, kept, tmp_path):
    target = 60_000
    manifest = write_training_shards(str(run), str(tmp_path), _cfg(target_bytes=target))
    for lang in ("en", "vi"):
        validation = [s for s in manifest["shards"] if s["language"] == lang and s["split"] == "validation"]
        assert sum(s["rows"] for s in validation) >= 1  # 0.005 of ~120 docs rounds to none: one is moved there
        train = [s for s in manifest["shards"] if s["language"] == lang and s["split"] == "train"]
        assert len(train) == math.ceil(sum(s["text_bytes"] for s in train) / target) > 1
        assert all(s["text_bytes"] < 2 * target for s in train)


def test_documents_are_ordered_by_doc_id_hash_within_and_across_shards(run, tmp_path):
    manifest = write_training_shards(str(run), str(tmp_path), _cfg(target_bytes=60_000))
    train = [s for s in manifest["shards"] if s["language"] == "en" and s["split"] == "train"]
    ids = [i for s in train for i in pq.read_table(tmp_path / s["path"]).column("doc_id").to_pylist()]
    hashes = [doc_hash(i, "order") for i in ids]
    assert hashes == sorted(hashes)


def test_rerun_is_byte_identical_and_manifest_matches_files(run, tmp_path):
    first = write_training_shards(str(run), str(tmp_path / "a"), _cfg(target_bytes=60_000))
    second = write_training_shards(str(run), str(tmp_path / "b"), _cfg(target_bytes=60_000))
    assert [s["sha256"] for s in first["shards"]] == [s["sha256"] for s in second["shards"]]
    for shard in first["shards"]:
        data = (tmp_path / "a" / shard["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
        meta = pq.ParquetFile(tmp_path / "a" / shard["path"]).metadata
        assert meta.num_rows == shard["rows"] and meta.row_group(0).column(0).compression == "ZSTD"
    written = json.loads((tmp_path / "a" / "shards.json").read_text())
    assert written["token_unit"] == "whitespace words" and written["shards"] == first["shards"]


def test_row_groups_follow_the_row_limit(run, tmp_path):
    manifest = write_training_shards(str(run), str(tmp_path), _cfg(row_group_rows=10))
    shard = max(manifest["shards"], key=lambda s: s["rows"])
    assert pq.ParquetFile(tmp_path / shard["path"]).metadata.num_row_groups == math.ceil(shard["rows"] / 10)


def test_token_counts_are_whitespace_words_or_tokenizer_tokens(run, tokenizer, tmp_path):
    words = write_training_shards(str(run), str(tmp_path / "w"), _cfg())
    tokens = write_training_shards(str(run), str(tmp_path / "t"), _cfg(), tokenizer)
    shard = words["shards"][0]
    texts = pq.read_table(tmp_path / "w" / shard["path"]).column("text").to_pylist()
    assert shard["tokens"] == sum(len(t.split()) for t in texts)
    assert tokens["shards"][0]["tokens"] == sum(len(ids) for ids in Tokenizer(tokenizer).encode(texts))
    assert "sentencepiece" in tokens["token_unit"]


def test_vietnamese_round_trips_without_unk(tokenizer):
    tok = Tokenizer(tokenizer)
    ids = tok.encode([VIETNAMESE])[0]
    assert tok.unk_id not in ids
    assert tok.decode(ids) == VIETNAMESE


def test_tokenizer_info_names_the_end_of_document_id(tokenizer):
    info = json.loads((Path(tokenizer) / "tokenizer.json").read_text())
    tok = Tokenizer(tokenizer)
    assert info["eod_id"] == tok.eod_id == tok.sp.piece_to_id("<eod>")
    assert info["vocab_size"] == tok.vocab_size == 1500
    assert 0 < info["training_documents"] <= 300 and info["byte_fallback"] is True


def test_cli_writes_shards_and_reports_usage_errors(run, tmp_path, capsys):
    assert main(["shards", "--input", str(run), "--output", str(tmp_path / "s"), "--validation-fraction", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "whitespace words" in out and "shards.json" in out
    manifest = json.loads((tmp_path / "s" / "shards.json").read_text())
    assert manifest["validation_fraction"] == 0.2
    assert main(["shards", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "x")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--input", str(run), "--output", str(tmp_path / "t"), "--vocab-size", "0"]) == 2
    assert "--vocab-size" in capsys.readouterr().err

"""The real Beam job (DirectRunner) on real and synthetic WARC files: conservation, robustness, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sieve.schemas.tables import DROPPED, KEPT
from tests.conftest import run_beam

REAL = [
    "warcfile.warc.gz",
    "clipped.warc.gz",
    "clueweb-quirk.warc.gz",
    "block-sized-records.warc.gz",
    "articles-sample.warc.gz",
]


def run(files: list[Path], staging: Path, workers: int = 2) -> dict:
    counters, summary = run_beam(files, staging, workers=workers)
    # Beam's counters and the written tables are two independent tallies of the same outcomes; the corpus passes
    # (dedup, the perplexity tail) move rows after the job, so their drops were kept rows to the job's counters.
    moved = {r: n for r, n in summary["dropped_by_reason"].items() if r.startswith("dedup/") or r == "perplexity/tail"}
    assert counters["read"] == summary["counts"]["read"]
    assert counters["kept"] == summary["counts"]["kept"] + sum(moved.values())
    for reason, n in summary["dropped_by_reason"].items():
        if reason not in moved:
            assert counters["dropped." + reason.replace("/", ".")] == n
    for warc_type, n in summary["skipped_by_type"].items():
        assert counters["skipped." + warc_type] == n
    return summary


def rows(staging: Path, kind: str) -> list[dict]:
    return [r for p in sorted((staging / kind).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def real_run(data_dir, tmp_path_factory):
    staging = tmp_path_factory.mktemp("real")
    return staging, run([data_dir / f for f in REAL], staging)


def test_every_record_of_every_real_file_is_kept_dropped_or_skipped(real_run):
    _, summary = real_run
    per_file = {f["warc_file"]: f for f in summary["files"]}
    assert set(per_file) == set(REAL)
    assert per_file["warcfile.warc.gz"]["read"] == 50 and per_file["warcfile.warc.gz"]["skipped"] == 34
    assert per_file["clueweb-quirk.warc.gz"]["read"] == 30
    assert per_file["block-sized-records.warc.gz"] == {
        **per_file["block-sized-records.warc.gz"],
        "read": 3,
        "skipped": 3,
    }
    assert per_file["articles-sample.warc.gz"]["read"] == 12
    for f in summary["files"]:
        assert f["read"] == f["kept"] + f["dropped"] + f["skipped"]
    c = summary["counts"]
    assert c["read"] == 96 == c["kept"] + c["dropped"] + c["skipped"]
    assert summary["skipped_by_type"] == {"metadata": 16, "request": 17, "unknown": 3, "warcinfo": 2}


def test_clipped_file_ends_as_a_dropped_row_naming_the_truncation(real_run):
    staging, summary = real_run
    clipped = [r for r in rows(staging, "dropped") if r["warc_file"] == "clipped.warc.gz"]
    assert len(clipped) == 1
    assert (clipped[0]["stage"], clipped[0]["reason"]) == ("read", "truncated_record")
    assert "clipped.warc.gz: record at offset 0" in clipped[0]["details"]
    assert summary["dropped_by_reason"]["read/truncated_record"] == 1


def test_written_tables_follow_the_schemas_and_keep_real_text(real_run):
    staging, _ = real_run
    for kind, schema in (("kept", KEPT), ("dropped", DROPPED)):
        for path in (staging / kind).glob("*.parquet"):
            assert pq.read_schema(path).equals(schema, check_metadata=False)
    kept = rows(staging, "kept")
    assert len({r["doc_id"] for r in kept}) == len(kept)
    assert all(r["n_chars"] == len(r["text"]) > 0 and r["language"] in ("en", "vi") for r in kept)
    assert sum(r["warc_file"] == "articles-sample.warc.gz" for r in kept) >= 8


def test_real_kept_pages_carry_every_stages_signals_and_a_perplexity(real_run):
    """The default config scores en and vi with the shipped reference models: every kept real page has a perplexity,
    a bucket and each heuristic's signals."""
    staging, _ = real_run
    kept = pa.concat_tables([pq.read_table(p) for p in sorted((staging / "kept").glob("*.parquet"))])
    assert kept.num_rows >= 8 and set(kept["language"].to_pylist()) <= {"en", "vi"}
    assert pc.all(pc.is_valid(kept["perplexity"])).as_py() and pc.all(pc.is_valid(kept["pp_bucket"])).as_py()
    for stage in ("language_gate", "gopher_quality", "c4", "fineweb", "gopher_repetition"):
        assert pc.all(pc.is_valid(pc.struct_field(kept["signals"], stage))).as_py(), stage


def test_same_input_gives_byte_identical_shards_whatever_the_parallelism(data_dir, real_run, tmp_path):
    staging, _ = real_run
    run([data_dir / f for f in REAL], tmp_path, workers=1)
    for kind in ("kept", "dropped"):
        first = {p.name: p.read_bytes() for p in (staging / kind).glob("*.parquet")}
        second = {p.name: p.read_bytes() for p in (tmp_path / kind).glob("*.parquet")}
        assert first and first == second


def test_synthetic_corpus_outcomes_match_its_ground_truth(synth_corpus, tmp_path):
    summary = run([synth_corpus / "corpus.warc.gz"], tmp_path)
    truth = json.loads((synth_corpus / "truth.json").read_text())
    records = {r["record_id"]: r for r in truth["records"]}
    assert summary["counts"]["read"] == len(records) + sum(truth["non_response_records"].values())
    assert summary["counts"]["kept"] + summary["counts"]["dropped"] == len(records)

    outcome = {r["warc_record_id"]: "kept" for r in rows(tmp_path, "kept")}
    outcome.update({r["warc_record_id"]: f"{r['stage']}/{r['reason']}" for r in rows(tmp_path, "dropped")})
    assert set(outcome) == set(records)
    by_kind = Counter((records[rid]["kind"], o) for rid, o in outcome.items())
    kinds = {k for k, _ in by_kind}
    for kind in kinds:
        results = {o: n for (k, o), n in by_kind.items() if k == kind}
        if kind == "non_html":
            assert set(results) == {"response/non_html"}
        elif kind == "http_error":
            assert set(results) == {"response/http_status"}
        elif kind == "empty":
            assert set(results) <= {
                "extract/empty_text",
                "language_id/low_language_score",
                "language_id/language_not_kept",
            }
    articles = [r for r in truth["records"] if r["kind"] == "article"]
    kept_en_vi = [r for r in articles if r["lang"] in ("en", "vi") and outcome[r["record_id"]] == "kept"]
    assert len(kept_en_vi) >= 0.95 * sum(r["lang"] in ("en", "vi") for r in articles)
    others = [r for r in articles if r["lang"] not in ("en", "vi")]
    # Most leave at the language gate, before extraction; a page the gate lets through leaves at language id.
    reasons = Counter(outcome[r["record_id"]] for r in others)
    assert set(reasons) <= {"language_gate/language_not_kept", "language_id/language_not_kept"}
    assert reasons["language_gate/language_not_kept"] >= 0.9 * len(others)

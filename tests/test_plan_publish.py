"""Input planning (files, directories, globs) and publishing (conservation check, atomic replace)."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from sieve.flows.plan import UsageError, plan_inputs, resolve_inputs
from sieve.flows.publish import ConservationError, publish, summarize, up_to_date, write_manifest
from sieve.schemas.config import load_config
from sieve.transforms.pipeline import run_job


def test_inputs_resolve_from_files_directories_and_globs_without_duplicates(data_dir, tmp_path):
    nested = tmp_path / "crawl" / "segment"
    nested.mkdir(parents=True)
    shutil.copy(data_dir / "clipped.warc.gz", nested / "a.warc.gz")
    shutil.copy(data_dir / "block-sized-records.warc.gz", tmp_path / "crawl" / "b.warc.gz")
    (tmp_path / "crawl" / "notes.txt").write_text("not a warc")
    resolved = resolve_inputs([str(tmp_path / "crawl"), str(tmp_path / "crawl" / "*.warc.gz"), str(nested / "a.warc.gz")])
    assert resolved == [str(tmp_path / "crawl" / "b.warc.gz"), str(nested / "a.warc.gz")]


def test_planned_inputs_carry_size_and_sha256(data_dir):
    [planned] = plan_inputs([str(data_dir / "clipped.warc.gz")])
    raw = (data_dir / "clipped.warc.gz").read_bytes()
    assert planned.size == len(raw) and planned.sha256 == hashlib.sha256(raw).hexdigest()


def test_no_input_is_a_usage_error():
    with pytest.raises(UsageError, match="no input given"):
        resolve_inputs([])


@pytest.fixture
def staged(data_dir, tmp_path):
    staging = tmp_path / "staging"
    run_job([str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")], load_config(), str(staging), workers=1)
    return staging


def test_a_lost_shard_fails_the_conservation_check(staged):
    next((staged / "dropped").glob("warcfile-*.parquet")).unlink()
    with pytest.raises(ConservationError, match="warcfile.warc.gz: read 50 != kept 2 \\+ dropped 0 \\+ skipped 34"):
        summarize(staged)


def test_publish_replaces_the_previous_output_in_one_step(staged, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    (out / "stale.parquet").write_text("old run")
    write_manifest(staged, summarize(staged), [], {}, "hash", {})
    publish(staged, str(out))
    assert not staged.exists() and not (out / "stale.parquet").exists()
    assert sorted(p.name for p in out.iterdir()) == ["dropped", "kept", "manifest.json"]
    assert not [p for p in tmp_path.iterdir() if ".old-" in p.name]


def test_up_to_date_needs_the_same_inputs_and_config(data_dir, tmp_path):
    inputs = plan_inputs([str(data_dir / "clipped.warc.gz")])
    cfg = load_config()
    (tmp_path / "manifest.json").write_text(json.dumps({"config_hash": cfg.hash, "inputs": [i.as_dict() for i in inputs]}))
    assert up_to_date(str(tmp_path), inputs, cfg.hash)
    assert not up_to_date(str(tmp_path), inputs, "another-config")
    assert not up_to_date(str(tmp_path), plan_inputs([str(data_dir / "warcfile.warc.gz")]), cfg.hash)


def test_progress_is_read_from_finished_range_markers(staged, data_dir):
    from sieve.flows.progress import progress_line

    total = sum((data_dir / f).stat().st_size for f in ("warcfile.warc.gz", "clipped.warc.gz"))
    assert progress_line(staged, total, 2.0) == f"100% of {total / 1e6:.1f} MB, 51 records (26/s)"
    assert progress_line(staged, 2 * total, 2.0).startswith("50% of ")
    assert progress_line(staged, 2 * total, 2.0).endswith("ETA 00:00:02")

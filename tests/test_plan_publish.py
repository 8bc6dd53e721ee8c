"""Input planning (files, directories, globs, listings, subsets) and the commit protocol (markers, manifest, cleanup)."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from sieve.flows.plan import BATCH_BYTES_PER_WORKER, InputFile, batches, plan_inputs
from sieve.flows.publish import (
    clean_working_files,
    commit,
    committed,
    config_identity,
    finished_ranges,
    manifest_for,
    run_folder,
    up_to_date,
)
from sieve.schemas.config import load_config
from sieve.schemas.errors import ConservationError, UsageError
from sieve.transforms.parquet import shard_stem
from sieve.transforms.pipeline import run_job
from sieve.transforms.summary import summarize
from tests.conftest import write_config


def test_inputs_resolve_from_files_directories_and_globs_named_below_their_common_folder(data_dir, tmp_path):
    nested = tmp_path / "crawl" / "segment"
    nested.mkdir(parents=True)
    shutil.copy(data_dir / "clipped.warc.gz", nested / "a.warc.gz")
    shutil.copy(data_dir / "block-sized-records.warc.gz", tmp_path / "crawl" / "b.warc.gz")
    (tmp_path / "crawl" / "notes.txt").write_text("not a warc")
    files = plan_inputs([str(tmp_path / "crawl"), str(tmp_path / "crawl" / "*.warc.gz"), str(nested / "a.warc.gz")])
    assert [(f.name, f.uri) for f in files] == [
        ("b.warc.gz", str(tmp_path / "crawl" / "b.warc.gz")),
        ("segment/a.warc.gz", str(nested / "a.warc.gz")),
    ]
    assert files[0].size == (data_dir / "block-sized-records.warc.gz").stat().st_size


def test_a_commoncrawl_listing_is_read_below_the_base_url(data_dir, tmp_path):
    names = [
        "crawl-data/CC-MAIN-2024-10/segments/1/warc/a.warc.gz",
        "crawl-data/CC-MAIN-2024-10/segments/2/warc/b.warc.gz",
    ]
    for name in names:
        (tmp_path / "mirror" / name).parent.mkdir(parents=True)
        shutil.copy(data_dir / "clipped.warc.gz", tmp_path / "mirror" / name)
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress("\n".join(names).encode() + b"\n"))
    files = plan_inputs([str(listing)], base_url=str(tmp_path / "mirror"))
    assert [f.name for f in files] == names and files[1].uri == str(tmp_path / "mirror" / names[1])
    with pytest.raises(UsageError, match="listed input crawl-data/.*a.warc.gz"):
        plan_inputs([str(listing)], base_url=str(tmp_path / "elsewhere"))


def test_limit_and_sample_choose_a_deterministic_subset(data_dir, tmp_path):
    for i in range(40):
        shutil.copy(data_dir / "block-sized-records.warc.gz", tmp_path / f"f{i:02d}.warc.gz")
    every = [f.name for f in plan_inputs([str(tmp_path)])]
    assert [f.name for f in plan_inputs([str(tmp_path)], limit_files=3)] == every[:3]
    sample = [f.name for f in plan_inputs([str(tmp_path)], sample_fraction=0.5)]
    assert sample == [f.name for f in plan_inputs([str(tmp_path)], sample_fraction=0.5)]
    assert 10 <= len(sample) <= 30 and set(sample) < set(every)
    assert [f.name for f in plan_inputs([str(tmp_path)], sample_fraction=0.5, limit_files=2)] == sample[:2]


def test_no_input_is_a_usage_error():
    with pytest.raises(UsageError, match="no input given"):
        plan_inputs([])


@pytest.fixture
def staged(data_dir, tmp_path):
    """A finished job in a run folder, not yet committed."""
    files = plan_inputs([str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")])
    cfg = load_config()
    run_dir = run_folder(str(tmp_path / "out"), cfg.hash)
    run_job([f.as_dict() for f in files], cfg, run_dir, workers=1)
    return tmp_path / "out", run_dir, files, cfg


def test_every_finished_file_has_a_commit_marker_with_its_checksum(staged, data_dir):
    _, run_dir, files, _ = staged
    markers = committed(run_dir, files)
    assert set(markers) == {"clipped.warc.gz", "warcfile.warc.gz"}
    assert markers["warcfile.warc.gz"]["read"] == 50 and len(markers["warcfile.warc.gz"]["sha256"]) == 64


def test_a_lost_shard_fails_the_conservation_check(staged):
    _, run_dir, files, _ = staged
    markers = committed(run_dir, files)
    next(p for p in (staged[0] / "runs").rglob("dropped/warcfile-*.parquet")).unlink()
    with pytest.raises(ConservationError, match="warcfile.warc.gz"):
        summarize(run_dir, files, markers)


def test_a_file_without_a_marker_is_not_committed(staged):
    _, run_dir, files, _ = staged
    markers = committed(run_dir, files)
    del markers["clipped.warc.gz"]
    with pytest.raises(ConservationError, match="clipped.warc.gz: the job ended without committing"):
        summarize(run_dir, files, markers)


def test_commit_writes_the_manifest_last_and_removes_other_runs(staged):
    out, run_dir, files, cfg = staged
    abandoned = out / "runs" / "0123456789abcdef"
    (abandoned / "kept").mkdir(parents=True)
    (abandoned / "kept" / "x.parquet").write_text("from a run that died")
    (out / "runs" / cfg.hash / "parts" / "kept").mkdir(parents=True, exist_ok=True)
    (out / "runs" / cfg.hash / "parts" / "kept" / "stale.parquet").write_text("unfinished part")
    markers = committed(run_dir, files)
    manifest = manifest_for(summarize(run_dir, files, markers), files, markers, cfg.as_dict(), cfg.hash, {}, {})
    commit(str(out), manifest)
    assert json.loads((out / "manifest.json").read_text())["counts"]["read"] == 51
    assert not abandoned.exists()
    assert sorted(p.name for p in (out / "runs" / cfg.hash).iterdir()) == [
        "done",
        "dropped",
        "kept",
    ]  # working files gone
    for shard in manifest["shards"]["kept"] + manifest["shards"]["dropped"]:
        assert (out / shard["path"]).stat().st_size == shard["bytes"]
    assert up_to_date(str(out), files, cfg.hash)
    assert not up_to_date(str(out), files, "another-config")
    assert not up_to_date(str(out), files[:1], cfg.hash)


def test_finished_ranges_of_an_interrupted_job_are_reused_not_read_again(data_dir, tmp_path):
    files = plan_inputs([str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")])
    cfg, run_dir, run_bytes = load_config(), str(tmp_path / "run"), sum(f.size for f in files)
    blocker = tmp_path / "run" / "kept" / f"{shard_stem('warcfile.warc.gz')}.parquet"
    blocker.mkdir(parents=True)  # the job dies merging warcfile, after every one of its ranges was finished
    with pytest.raises(Exception, match="cannot write"):
        run_job([f.as_dict() for f in files], cfg, run_dir, workers=1)
    blocker.rmdir()
    ranges = sorted((tmp_path / "run" / "ranges").glob("warcfile-*.json"))
    assert len(ranges) > 1 and [uri for uri, _, _ in finished_ranges(run_dir, files[1:])] == [str(r) for r in ranges]
    ranges[0].unlink()  # as if the job had died before finishing that one

    again = run_job([files[1].as_dict()], cfg, run_dir, workers=1, run_bytes=run_bytes)  # cut as in the first job
    assert again["ranges_reused"] == len(ranges) - 1 and 0 < again["read"] < 50
    reference = str(tmp_path / "reference")
    run_job([f.as_dict() for f in files], cfg, reference, workers=1)
    shard = f"kept/{shard_stem('warcfile.warc.gz')}.parquet"
    assert (tmp_path / "run" / shard).read_bytes() == (tmp_path / "reference" / shard).read_bytes()
    assert committed(run_dir, files[1:])["warcfile.warc.gz"]["read"] == 50
    clean_working_files(run_dir)
    assert not (tmp_path / "run" / "parts").exists() and not (tmp_path / "run" / "ranges").exists()


def test_progress_is_read_from_finished_range_markers(data_dir, tmp_path):
    from sieve.flows.progress import finished_work

    files = plan_inputs([str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")])
    run_dir = str(tmp_path / "run")
    run_job([f.as_dict() for f in files], load_config(), run_dir, workers=1)
    assert finished_work(run_dir, files) == (sum(f.size for f in files), 51)  # every byte's range, every record
    half = files[1:]  # warcfile alone: clipped's ranges belong to another file
    assert finished_work(run_dir, half) == (half[0].size, 50)


def test_latest_stands_for_the_newest_crawl_in_inputs_and_output(tmp_path):
    from sieve.flows.plan import resolve_latest

    for crawl in ("CC-MAIN-2024-51", "CC-MAIN-2025-08", "CC-MAIN-2025-05", "not-a-crawl"):
        (tmp_path / "crawl-data" / crawl).mkdir(parents=True)
    inputs, output = resolve_latest([f"{tmp_path}/crawl-data/{{latest}}/warc.paths.gz"], "out/{latest}")
    assert inputs == [f"{tmp_path}/crawl-data/CC-MAIN-2025-08/warc.paths.gz"] and output == "out/CC-MAIN-2025-08"
    assert resolve_latest(["a.warc.gz"], "out") == (["a.warc.gz"], "out")
    with pytest.raises(UsageError, match="no CC-MAIN-\\* crawl folder"):
        resolve_latest([f"{tmp_path}/crawl-data/CC-MAIN-2025-08/{{latest}}/x"], "out")


def test_batches_hold_about_a_gigabyte_per_worker_or_the_given_number_of_files():
    files = [InputFile(f"/c/{i}.warc.gz", f"{i}.warc.gz", BATCH_BYTES_PER_WORKER // 2, 0) for i in range(9)]
    assert [len(b) for b in batches(files, workers=2)] == [4, 4, 1]
    assert [len(b) for b in batches(files, workers=2, batch_files=2)] == [2, 2, 2, 2, 1]
    assert batches(files[:3], workers=8) == [files[:3]] and batches([], workers=2) == []


def test_the_run_identity_follows_the_contents_of_the_blocklists_the_config_names(tmp_path):
    blocklist = tmp_path / "blocked.txt"
    blocklist.write_text("spam.example\n")
    cfg = load_config(write_config(tmp_path / "c.yaml", f"url_filter:\n  extra_blocklists: [{blocklist}]\n"))
    before = config_identity(cfg)
    blocklist.write_text("spam.example\nmore-spam.example\n")  # same config file, another list
    assert config_identity(cfg) != before and cfg.hash == load_config(str(tmp_path / "c.yaml")).hash
    plain = load_config(write_config(tmp_path / "plain.yaml", "quality:\n  perplexity:\n    enabled: false\n"))
    assert config_identity(plain) == plain.hash  # no data files: the plain config hash
    assert config_identity(load_config()) != load_config().hash  # the shipped perplexity models' contents count
    blocklist.unlink()
    with pytest.raises(UsageError, match="blocked.txt"):
        config_identity(cfg)


def test_the_run_identity_follows_the_contents_of_extra_toxicity_lists(tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("badword\n")
    cfg = load_config(
        write_config(tmp_path / "c.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      en: [{terms}]\n")
    )
    before = config_identity(cfg)
    terms.write_text("badword\nworseword\n")
    assert config_identity(cfg) != before

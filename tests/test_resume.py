"""A real run killed with SIGKILL part way: nothing it started stays alive, and the same command reads again only
the record ranges that were not finished and publishes exactly what an uninterrupted run publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import SYNTH_FILES, published_shards, session_processes, synth_crawl_command

KILL_AFTER = 5  # finished ranges: an eighth of the ~40 (about 10 per file); no file is merged before all are finished

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


def test_a_killed_run_leaves_no_process_and_resumes_to_the_same_output(synth_crawl, synth_crawl_run, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        synth_crawl_command(synth_crawl, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 240
    while len(list(out.glob("runs/*/ranges/*.json"))) < KILL_AFTER:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while (left := session_processes(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"processes outlived the killed command: {left}"
    finished_before = len(list(out.glob("runs/*/ranges/*.json")))
    assert not list(out.glob("runs/*/done/*.json")) and not (out / "manifest.json").exists()

    resumed = subprocess.run(
        synth_crawl_command(synth_crawl, out), capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"reusing {finished_before} finished record ranges" in resumed.stdout + resumed.stderr
    manifest, shards = published_shards(out)
    [job] = manifest["run"]["batches"]
    assert job["beam_counters"]["ranges_reused"] == finished_before
    assert 0 < job["beam_counters"]["read"] < manifest["counts"]["read"]  # only the unfinished ranges were read

    reference, reference_shards = published_shards(synth_crawl_run)  # the same command, run uninterrupted
    assert manifest["counts"] == reference["counts"] and manifest["files"] == reference["files"]
    assert manifest["dropped_by_reason"] == reference["dropped_by_reason"]
    assert shards == reference_shards and len(shards) == 2 * SYNTH_FILES
    doc_ids = [i for p in shards for i in pq.read_table(out / p, columns=["doc_id"]).column("doc_id").to_pylist()]
    assert len(doc_ids) == len(set(doc_ids)) == manifest["counts"]["kept"] + manifest["counts"]["dropped"]

"""A real run killed with SIGKILL part way: nothing it started stays alive, and the same command reads again only
the record ranges that were not finished and publishes exactly what an uninterrupted run publishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

SIEVE = str(Path(sys.executable).parent / "sieve")
FILES = 4
KILL_AFTER = 5  # finished ranges: a quarter of the ~20 (about 5 per file), before any file is merged

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    """Four small synthetic WARC files (150 documents each, seeds 0..3)."""
    from sieve.flows.synth import write_synthetic_corpus

    root = tmp_path_factory.mktemp("crawl")
    for i in range(FILES):
        write_synthetic_corpus(root / f"seg{i}", docs=150, seed=i)
    return root


def command(crawl: Path, out: Path) -> list[str]:
    """One Beam job for all files (the default batching here); ranges of 100 records, about 5 per file."""
    config = out.parent / "ranges.yaml"
    config.write_text("read:\n  records_per_split: 100\n")
    return [SIEVE, "run", "--input", str(crawl), "--output", str(out), "--workers", "2", "--config", str(config)]


def session_processes(sid: int) -> list[int]:
    """Pids of live processes in a session (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state ppid pgrp session
            pids.append(int(stat.parent.name))
    return pids


def published(out: Path) -> tuple[dict, dict[str, bytes]]:
    manifest = json.loads((out / "manifest.json").read_text())
    shards = {
        s["path"]: (out / s["path"]).read_bytes() for kind in ("kept", "dropped") for s in manifest["shards"][kind]
    }
    return manifest, shards


def test_a_killed_run_leaves_no_process_and_resumes_to_the_same_output(crawl, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        command(crawl, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=tmp_path
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

    resumed = subprocess.run(command(crawl, out), capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"reusing {finished_before} finished record ranges" in resumed.stdout + resumed.stderr
    manifest, shards = published(out)
    [job] = manifest["run"]["batches"]
    assert job["beam_counters"]["ranges_reused"] == finished_before
    assert 0 < job["beam_counters"]["read"] < manifest["counts"]["read"]  # only the unfinished ranges were read

    whole = subprocess.run(
        command(crawl, tmp_path / "whole"), capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    reference, reference_shards = published(tmp_path / "whole")
    assert manifest["counts"] == reference["counts"] and manifest["files"] == reference["files"]
    assert manifest["dropped_by_reason"] == reference["dropped_by_reason"]
    assert shards == reference_shards and len(shards) == 2 * FILES
    doc_ids = [i for p in shards for i in pq.read_table(out / p, columns=["doc_id"]).column("doc_id").to_pylist()]
    assert len(doc_ids) == len(set(doc_ids)) == manifest["counts"]["kept"] + manifest["counts"]["dropped"]

"""The per-document time guard: a document that hangs or kills its process costs one dropped row, not the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sieve.schemas.config import load_config
from sieve.transforms.supervise import RangeSupervisor
from tests.conftest import DATA, LIGHT_CONFIG, run_beam, source, write_config
from tests.test_warc import write_warc

SMALL = b"<html><body><article><p>The council met on Tuesday to discuss the new budget for schools and roads.</p></article></body></html>"
# 3.3 MB of small blocks: trafilatura needs about 9 s for it on our machine, far past the limits used below.
HUGE = b"<html><body>" + b'<div><p>some words here.</p><a href="/x">link</a></div>' * 60_000 + b"</body></html>"


@pytest.fixture
def warc(tmp_path):
    path = tmp_path / "mixed.warc.gz"
    write_warc(path, [SMALL, HUGE, SMALL], [("Content-Type", "text/html; charset=utf-8")])
    return str(path)


def supervisor(tmp_path, seconds: float) -> RangeSupervisor:
    cfg = load_config(
        write_config(
            tmp_path / "c.yaml",
            (
                f"guard:\n  document_timeout_seconds: {seconds}\nread:\n  max_payload_bytes: 10000000\n"
                "language_id:\n  enabled: false\n"
            ),
        )
    )
    return RangeSupervisor(cfg, str(tmp_path / "staging"))


def test_a_document_past_the_limit_is_dropped_and_the_rest_of_the_range_is_kept(warc, tmp_path):
    sup = supervisor(tmp_path, 1.0)
    try:
        start = time.monotonic()
        result = sup.run(source(warc), 0, os.path.getsize(warc))
        elapsed = time.monotonic() - start
    finally:
        sup.close()
    assert result["read"] == 3 and result["kept"] == 2
    assert result["dropped"] == {"extract/timeout": 1} and result["retries"] == 1
    assert elapsed < 30


def test_a_document_that_kills_its_process_is_dropped_as_crashed(warc, tmp_path):
    sup = supervisor(tmp_path, 60.0)

    def kill_when_stuck_on_the_huge_page():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            offset, stage = sup._beacon.get()
            if sup._proc is not None and offset > 0 and stage == sup.stages.index("extract"):  # the second record
                time.sleep(0.5)
                os.kill(sup._proc.pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_stuck_on_the_huge_page)
    killer.start()
    try:
        result = sup.run(source(warc), 0, os.path.getsize(warc))
    finally:
        killer.join()
        sup.close()
    assert result["read"] == 3 and result["kept"] == 2
    assert result["dropped"] == {"extract/crashed": 1}


def test_the_pipeline_records_timed_out_documents_with_stage_and_reason(warc, tmp_path):
    import pyarrow.parquet as pq

    cfg = load_config(
        write_config(
            tmp_path / "c.yaml",
            (
                "guard:\n  document_timeout_seconds: 1.0\nread:\n  max_payload_bytes: 10000000\nlanguage_id:\n  enabled: false\n"
                "dedup: {enabled: false}\n"
            ),
        )
    )  # its two small pages are the same page: dedup would drop one
    counters, summary = run_beam([warc], tmp_path / "run", cfg, workers=1)
    assert summary["counts"] == {"read": 3, "kept": 2, "dropped": 1, "skipped": 0}
    [row] = pq.read_table(next((tmp_path / "run" / "dropped").glob("*.parquet"))).to_pylist()
    assert (row["stage"], row["reason"], row["url"]) == ("extract", "timeout", "https://example.com/1")
    assert "guard.document_timeout_seconds" in row["details"]
    assert counters["dropped.extract.timeout"] == 1


def test_the_range_worker_builds_and_runs_every_stage_without_torch_or_pandas(tmp_path):
    """torch and pandas are installed (the trainer, Beam); the range worker hides them (presidio, spaCy and pyarrow
    import them for nothing) and still writes a range."""
    probe = (
        "import sys; from sieve.transforms.supervise import WORKER_HIDES, hide_modules; hide_modules(*WORKER_HIDES)\n"
        "from sieve.transforms.stages import build_filters; from sieve.filters.pii import scrubber\n"
        "from sieve.schemas.config import load_config\n"
        "cfg = load_config(); filters = build_filters(cfg)\n"
        "assert scrubber(cfg.pii).scrub('Gọi 0912 345 678', 'vi')[0] == 'Gọi <PHONE>'\n"
        "from sieve.transforms.ranges import process_range\n"
        f"source = {{'uri': {str(DATA / 'articles-sample.warc.gz')!r}, 'name': 'a'}}\n"
        f"assert process_range(cfg, filters, {str(tmp_path)!r}, source, 0, 10**9, {{}})['read'] == 12\n"
        "assert not {'torch', 'pandas'} & set(sys.modules) and 'spacy' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_range_processes_warmed_before_the_job_are_the_ones_it_runs_its_ranges_in(tmp_path, monkeypatch):
    """`sieve run` (and run_files) start the local job's range processes before their own imports (warm_up): the
    job's Beam workers take those and start none of their own, and none is left once the job ends."""
    from sieve.flows.plan import plan_inputs
    from sieve.transforms import supervise
    from sieve.transforms.pipeline import run_job

    cfg = load_config(write_config(tmp_path / "light.yaml", LIGHT_CONFIG))
    run_dir = str(tmp_path / "run")
    supervise.warm_up(cfg, run_dir, 2)
    warmed = [s._proc for group in supervise._idle.values() for s in group]
    assert len(warmed) == 2 and all(p.poll() is None for p in warmed)
    started = []
    start = RangeSupervisor._start
    monkeypatch.setattr(RangeSupervisor, "_start", lambda self: started.append(self) or start(self))
    counters = run_job([f.as_dict() for f in plan_inputs([str(DATA / "articles-sample.warc.gz")])], cfg, run_dir)
    assert counters["read"] == 12 and not started  # every range ran in a warmed process
    assert all(p.poll() is not None for p in warmed) and not supervise._idle  # stopped with the job


def test_a_local_jobs_launcher_reads_and_writes_no_file_when_its_range_processes_are_warmed(tmp_path, monkeypatch):
    """A local job's Beam workers are threads of the launching process: cutting the input into ranges and merging
    each file's parts into its shards go to its warmed range processes (in_range_process) with the ranges, so the
    launcher's own work does not grow with the corpus (docs/scale.md)."""
    from sieve.flows.plan import plan_inputs
    from sieve.transforms import pipeline, storage, supervise

    cfg = load_config(write_config(tmp_path / "light.yaml", LIGHT_CONFIG))
    run_dir, files = str(tmp_path / "run"), [f.as_dict() for f in plan_inputs([str(DATA / "articles-sample.warc.gz")])]
    supervise.warm_up(cfg, run_dir, 2)  # as `sieve run` does
    monkeypatch.setattr(pipeline, "SPLIT_HERE_BYTES", 0)  # the sample is cut where a big file would be
    here: list[str] = []
    for name in ("open_input", "read_parquet", "write_parquet", "write_text"):
        function = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda uri, *a, _f=function, **k: here.append(uri) or _f(uri, *a, **k))
    counters = pipeline.run_job(files, cfg, run_dir)
    assert counters["read"] == 12 and here == []
    [marker] = (tmp_path / "run" / "done").glob("*.json")
    assert all((tmp_path / "run" / s["path"]).is_file() for s in json.loads(marker.read_text())["shards"].values())

"""A real `sieve run` stopped as a terminal's Ctrl-C stops it (SIGINT to its process group) and as Prefect, Kubernetes
and Dataflow's launcher do first (SIGTERM to the command alone): it exits within 10 s with 130 or 143, leaves nothing
running, releases its lease, has its Prefect flow run marked crashed and prints the one line that resumes it. Killed
with SIGKILL, nothing it started stays alive. The same command then resumes from the finished ranges, reads only the
others, and publishes what an uninterrupted run publishes, even after torn files were left in the stopped run's folder
(the end-to-end check of tests/test_torn.py). One command is stopped all three ways in turn: each stop is a resume of
the one before, so the resumes are tested too, for the cost of one run."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import SYNTH_FILES, published_shards, server_home, session_processes, synth_crawl_command

STOP_WITHIN = 10  # seconds from the signal to the command's exit
STOP_AFTER = 3  # ranges a run finishes (of 49) before it is stopped
KILL_WITHIN = 20  # seconds from SIGKILL until no process the command started is left

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


def finished(out: Path) -> list[Path]:
    return sorted(out.glob("runs/*/ranges/*.json"))


def stop_part_way(command: list[str], out: Path, after: int, signum: int, env: dict[str, str]) -> tuple[int, str]:
    """Start command in a session of its own, wait until `after` ranges are finished, send signum (SIGINT to the
    process group, as a terminal does; SIGTERM or SIGKILL to the command alone) and check that it exits within
    STOP_WITHIN s with no process of its session left (KILL_WITHIN s after a SIGKILL, which the command cannot pass on:
    its children see it gone): (its exit code, its output)."""
    log = out.parent / f"{signal.Signals(signum).name}.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 240
        while len(finished(out)) < after:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
            time.sleep(0.005)  # the light config's ranges take milliseconds: a slower poll let 20 finish unseen
        sent = time.monotonic()
        (os.killpg if signum == signal.SIGINT else os.kill)(proc.pid, signum)
        try:
            code = proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"still running {STOP_WITHIN} s after {signal.Signals(signum).name}") from None
    deadline = time.monotonic() + (KILL_WITHIN if signum == signal.SIGKILL else 1)
    while (left := session_processes(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes outlived the command stopped {time.monotonic() - sent:.1f} s ago: {left}"
    return code, log.read_text()


def lease_released(out: Path) -> bool:
    newest = max((out / "lease").glob("*.json"))
    return json.loads(newest.read_text())["released"]


def flow_run_states(out: Path, since: datetime) -> list[str]:
    """The states of the curate flow runs into out started since, oldest first, read from the Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["curate"])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
            sort=FlowRunSort.START_TIME_ASC,
        )
    return [r.state.type.value for r in runs if r.parameters.get("output") == str(out)]


def tear(out: Path) -> list[str]:
    """Damage what one finished range left, in one way per marker: a part cut short, a part gone, the marker itself
    cut short; and a temp file beside them, as a write killed part way leaves. Returns the ranges (name@start) whose
    work must be redone."""
    ranges = [m for m in finished(out) if "kept" in json.loads(m.read_text())["parts"]][:3]
    redone = []
    for how, m in zip(("truncate part", "delete part", "truncate marker"), ranges):
        record = json.loads(m.read_text())
        part = m.parent.parent / record["parts"]["kept"]["path"]
        if how == "truncate part":
            part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
        elif how == "delete part":
            part.unlink()
        else:
            m.write_text(m.read_text()[:40])
        redone.append(f"{record['source']['name']}@{record['start']}")
    (ranges[0].parent / f".{ranges[0].name}.tmp-4242").write_text('{"source": ')
    return redone


def test_a_run_stopped_three_ways_resumes_to_the_same_output_even_past_torn_files(
    synth_crawl, synth_crawl_run, tmp_path
):
    out, since = tmp_path / "out", datetime.now(UTC)
    command = synth_crawl_command(synth_crawl, out)
    resume_line = f"the same command resumes from the finished record ranges: {shlex.join(['sieve', *command[1:]])}"

    # Ctrl-C in a terminal; the command runs its own Prefect server, which records the crash and then stops too (in
    # the database of the session's server, which the later runs use)
    own_server = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": server_home()}
    code, output = stop_part_way(command, out, STOP_AFTER, signal.SIGINT, own_server)
    assert code == 130 and f"sieve: stopped by SIGINT; {resume_line}" in output, output[-3000:]
    assert "Traceback" not in output.split("Crash detected!")[-1]  # one line, not a traceback, once stopped
    assert lease_released(out) and not (out / "manifest.json").exists()
    after_sigint = len(finished(out))

    # SIGTERM to the same command, resumed: it reuses the ranges finished so far and is stopped in turn
    code, output = stop_part_way(command, out, after_sigint + STOP_AFTER, signal.SIGTERM, dict(os.environ))
    assert code == 143 and f"sieve: stopped by SIGTERM; {resume_line}" in output, output[-3000:]
    assert f"reusing {after_sigint} finished record ranges" in output
    assert lease_released(out) and not (out / "manifest.json").exists()
    after_sigterm = len(finished(out))

    # SIGKILL: no handler runs, the lease is left to be taken over, the finished ranges stay
    code, _ = stop_part_way(command, out, after_sigterm + STOP_AFTER, signal.SIGKILL, dict(os.environ))
    assert code == -signal.SIGKILL
    assert not list(out.glob("runs/*/done/*.json")) and not (out / "manifest.json").exists()

    redone = tear(out)
    finished_before = len(finished(out))
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name_at in redone:
        assert f"{name_at}: reading this record range again" in resumed.stdout + resumed.stderr, name_at
    manifest, shards = published_shards(out)
    [job] = manifest["run"]["batches"]
    assert job["beam_counters"]["ranges_reused"] == finished_before - len(redone)
    assert 0 < job["beam_counters"]["read"] < manifest["counts"]["read"]  # only the unfinished ranges were read
    reference, reference_shards = published_shards(synth_crawl_run)  # the same command, run uninterrupted
    assert manifest["counts"] == reference["counts"] and manifest["files"] == reference["files"]
    assert manifest["dropped_by_reason"] == reference["dropped_by_reason"]
    assert shards == reference_shards and len(shards) == 2 * SYNTH_FILES
    doc_ids = [i for p in shards for i in pq.read_table(out / p, columns=["doc_id"]).column("doc_id").to_pylist()]
    assert len(doc_ids) == len(set(doc_ids)) == manifest["counts"]["kept"] + manifest["counts"]["dropped"]

    # a SIGKILLed command cannot report: its flow run stays Running on the server (Prefect has no heartbeat for it)
    assert flow_run_states(out, since) == ["CRASHED", "CRASHED", "RUNNING", "COMPLETED"]

"""One writer per output: the lease on the local disk and on a real S3 API (moto's server on loopback), held by real
processes that race, stall, get killed; and two `sieve run` commands on one output, where one publishes and the other
fails at once in one line naming the holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sieve.schemas.config import ConfigError, LeaseConfig, load_config
from sieve.schemas.errors import OutputBusy
from sieve.transforms import lease, storage
from sieve.transforms.layout import lease_dir
from tests.conftest import DATA, LIGHT_CONFIG, write_config

SIEVE = str(Path(sys.executable).parent / "sieve")

# A process that takes the lease (at wall time argv[4], when given), says "held", then answers each "confirm" line
# on stdin by renewing at once ("ok", or the error and exit 3); it releases and exits 0 at end of input.
HOLDER = """
import sys, time
from sieve.schemas.config import LeaseConfig
from sieve.schemas.errors import OutputBusy
from sieve.transforms import lease

output, duration, renew = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
if len(sys.argv) > 4:
    time.sleep(max(0.0, float(sys.argv[4]) - time.time()))
try:
    with lease.holding(output, LeaseConfig(duration_seconds=duration, renew_seconds=renew)):
        print("held", flush=True)
        for line in sys.stdin:
            lease.confirm(output)
            print("ok", flush=True)
except OutputBusy as e:
    print(e, flush=True)
    sys.exit(3)
"""


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "out")
    request.getfixturevalue("s3_env")
    return f"s3://corpus/lease-{uuid.uuid4().hex[:8]}"


def holder(output: str, duration: float, renew: float, *start_at: float) -> subprocess.Popen:
    args = [sys.executable, "-c", HOLDER, output, str(duration), str(renew), *map(str, start_at)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def held(proc: subprocess.Popen) -> subprocess.Popen:
    assert proc.stdout.readline().strip() == "held"
    return proc


def current(output: str) -> dict:
    return lease._current(lease_dir(output))[1]


def test_of_racing_processes_exactly_one_takes_the_lease_and_the_others_name_it(output):
    start = time.time() + 3  # all three are imported and waiting by then
    procs = [holder(output, 30, 5, start) for _ in range(3)]
    first = [p.stdout.readline().strip() for p in procs]
    [winner] = [p for p, line in zip(procs, first) if line == "held"]
    for p, line in zip(procs, first):
        if p is not winner:
            assert p.wait(timeout=30) == 3
            assert f"is being written by another run (host {socket.gethostname()}, pid {winner.pid}, started" in line
    winner.stdin.close()  # ends and releases
    assert winner.wait(timeout=30) == 0
    assert current(output)["released"] and current(output)["pid"] == winner.pid
    lease.acquire(output, LeaseConfig(duration_seconds=30, renew_seconds=5)).release()  # free at once


def test_the_holder_renews_past_its_duration_and_clears_old_records(output):
    settings = LeaseConfig(duration_seconds=1, renew_seconds=0.2)
    mine = lease.acquire(output, settings)
    time.sleep(2)  # twice the duration: only renewals keep it
    with pytest.raises(OutputBusy, match=f"pid {os.getpid()}"):
        lease.acquire(output, settings)
    assert mine.generation >= 5 and not current(output)["released"]
    assert len(storage.list_files(lease_dir(output))) <= 2  # renewals clear the records behind them
    mine.release()
    lease.acquire(output, settings).release()


def test_a_write_tried_again_after_a_lost_answer_finds_its_own_record_and_a_rival_does_not(output):
    folder = lease_dir(output)
    mine = {"holder": "a", "released": False}
    assert lease._advance(folder, 0, mine) and lease._advance(folder, 0, mine)  # the store had kept the first try
    assert not lease._advance(folder, 0, {"holder": "b", "released": False})
    assert current(output)["holder"] == "a"


def test_a_holder_killed_on_this_machine_frees_the_output_at_once(output):
    proc = held(holder(output, 60, 10))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not current(output)["released"]  # it never let go: its lease would last another minute
    start = time.monotonic()
    lease.acquire(output, LeaseConfig(duration_seconds=60, renew_seconds=10)).release()
    assert time.monotonic() - start < 5


def test_a_stalled_holder_lapses_is_taken_over_and_then_cannot_commit(output):
    settings = LeaseConfig(duration_seconds=1.5, renew_seconds=0.3)
    proc = held(holder(output, settings.duration_seconds, settings.renew_seconds))
    os.kill(proc.pid, signal.SIGSTOP)  # alive (its pid cannot be judged dead) but renewing nothing: a frozen machine
    try:
        with pytest.raises(OutputBusy, match=f"pid {proc.pid}"):
            lease.acquire(output, settings)
        stopped, deadline = time.monotonic(), time.monotonic() + 20
        while True:
            try:
                mine = lease.acquire(output, settings)
                break
            except OutputBusy:
                assert time.monotonic() < deadline, "the stalled holder's lease never lapsed"
                time.sleep(0.2)
        assert time.monotonic() - stopped > 0.5  # taken over once the lease lapsed, not before
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, _ = proc.communicate("confirm\n", timeout=30)  # what the stalled run does before it commits
    assert proc.returncode == 3
    assert f"lost the lease on {storage.absolute(output)} to another run (host" in out and f"pid {os.getpid()}" in out
    assert current(output)["pid"] == os.getpid() and not current(output)["released"]  # the new holder keeps it
    mine.release()


def test_lease_timing_is_config_that_leaves_the_run_identity_alone(tmp_path):
    short = write_config(tmp_path / "short.yaml", "lease:\n  duration_seconds: 5\n  renew_seconds: 1\n")
    assert load_config(short).lease == LeaseConfig(duration_seconds=5, renew_seconds=1)
    assert load_config(short).hash == load_config().hash  # the same run, resumable under other lease timing
    slow = write_config(tmp_path / "slow.yaml", "lease:\n  renew_seconds: 600\n")
    with pytest.raises(ConfigError, match="lease.renew_seconds must be less than lease.duration_seconds"):
        load_config(slow)


def run_command(output: str, config: Path) -> list[str]:
    return [
        SIEVE,
        "run",
        "--input",
        "s3://warcs/lease-e2e",
        "--output",
        output,
        "--workers",
        "1",
        "--config",
        str(config),
    ]


def wait_for_holder(output: str, pid: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not (storage.list_files(lease_dir(output)) and current(output)["pid"] == pid):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never took the lease"
        time.sleep(0.1)


def assert_one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sieve: error: ") and all(n in line for n in needles), line


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_two_runs_into_one_bucket_output_one_publishes_the_other_says_who_holds_it(s3_env, tmp_path, capsys):
    import boto3

    boto3.client("s3").upload_file(str(DATA / "articles-sample.warc.gz"), "warcs", "lease-e2e/articles.warc.gz")
    config = tmp_path / "lease.yaml"
    # the run outlasts the lease: renewals keep it; the light config, as this is about the output, not the filters
    config.write_text(LIGHT_CONFIG + "lease:\n  duration_seconds: 10\n  renew_seconds: 1\n")
    out = "s3://corpus/lease-e2e"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "first.log"  # a file, not a pipe: nobody reads it while the run goes on
    first = subprocess.Popen(
        run_command(out, config), stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path, env=env
    )
    wait_for_holder(out, first.pid, first)

    start = time.monotonic()
    second = subprocess.run(
        run_command(out, config), capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert_one_line(second, f"{out} is being written by another run", f"pid {first.pid}, started 20")
    assert time.monotonic() - start < 30

    assert first.wait(timeout=300) == 0, log.read_text()[-3000:]
    manifest = json.loads(storage.read_text(f"{out}/manifest.json"))
    assert manifest["counts"]["read"] == 12 and current(out)["released"]

    # kill -9 a run holding the output: the next one on this machine takes over at once (its pid is gone)
    killed = subprocess.Popen(
        run_command(out, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path, env=env
    )
    wait_for_holder(out, killed.pid, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not current(out)["released"]
    rerun = subprocess.run(run_command(out, config), capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (
        f"took over the lease on {out} from a run that stopped" in rerun.stderr and f"pid {killed.pid}" in rerun.stderr
    )
    assert json.loads(storage.read_text(f"{out}/manifest.json")) == manifest  # it found the run published

    # rethreshold takes the same lease: into a (local) output another process holds, it fails the same way
    from sieve.flows.cli import main

    local = str(tmp_path / "redecided")
    proc = held(holder(local, 30, 5))
    capsys.readouterr()
    assert main(["rethreshold", out, "--config", str(config), "--output", local, "--workers", "1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"sieve: error: {local} is being written by another run") and f"pid {proc.pid}" in line
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0

"""Nothing a run starts outlives it: children end soon after their parent, even when only the parent gets SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sieve.schemas.config import load_config
from sieve.transforms.documents import ProcessWarcRange
from sieve.transforms.lifecycle import die_with_parent

SIEVE = str(Path(sys.executable).parent / "sieve")

# A parent (the command) that starts a child, directly or through a `sh -c` that stays in between as when Beam
# starts its workers; the child gets the parent's pid and prints its own once it is tied. Then the parent waits.
PARENT = """
import os, shlex, subprocess, sys, time
{prelude}
child = [sys.executable, "-c", {child!r}, str(os.getpid())]
if {through_shell}:
    child = ["sh", "-c", shlex.join(child) + "; exit"]
proc = subprocess.Popen(child, stdout=subprocess.PIPE, text=True)
print(proc.stdout.readline(), end="", flush=True)
time.sleep(120)
"""
TIED = "from sieve.transforms.lifecycle import die_with_parent; die_with_parent({ancestor})"
# The command builds the Beam stage; a worker process unpickles it and sets it up, as Beam does.
BUILD_STAGE = """
import pickle
from sieve.schemas.config import load_config
from sieve.transforms.documents import ProcessWarcRange
with open(os.environ["STAGE"], "wb") as f:
    pickle.dump(ProcessWarcRange(load_config(None), os.environ["STAGE"] + ".run"), f)
"""
SET_UP_STAGE = "import os, pickle; pickle.load(open(os.environ['STAGE'], 'rb')).setup()"


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = stat(pid)
    return fields is not None and fields[0] != "Z"


def session_processes(sid: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process in session sid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) and fields[0] != "Z" and int(fields[3]) == sid:
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found[int(entry.name)] = (int(fields[1]), command)
    return found


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def child_outlives_killed_parent(child: str, through_shell: bool, prelude: str = "", env: dict | None = None) -> bool:
    """Start PARENT with this child code, SIGKILL the parent once the child is tied: is the child alive 5 s later?"""
    code = PARENT.format(
        prelude=prelude,
        child=f"import os, sys, time; {child}; print(os.getpid(), flush=True); time.sleep(120)",
        through_shell=through_shell,
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    child_pid = int(parent.stdout.readline())
    assert alive(child_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    outlived = not wait_until(lambda: not alive(child_pid), 5)
    if outlived:
        os.kill(child_pid, signal.SIGKILL)
    return outlived


def test_a_child_ends_soon_after_its_parent_is_killed():
    assert not child_outlives_killed_parent(TIED.format(ancestor=""), through_shell=False)


def test_a_child_tied_through_a_shell_ends_when_the_process_above_the_shell_is_killed():
    assert not child_outlives_killed_parent(TIED.format(ancestor="int(sys.argv[1])"), through_shell=True)


def test_a_beam_worker_the_command_started_ends_soon_after_the_command_is_killed(tmp_path):
    env = {**os.environ, "STAGE": str(tmp_path / "stage.pickle")}
    assert not child_outlives_killed_parent(SET_UP_STAGE, through_shell=True, prelude=BUILD_STAGE, env=env)


def test_nothing_is_watched_in_the_command_itself(tmp_path):
    assert not die_with_parent(os.getpid())  # not its own ancestor
    stage = ProcessWarcRange(load_config(None), str(tmp_path / "run"))
    stage.setup()  # the in_memory runner sets the stage up in the command's own process
    stage.teardown()
    assert "die-with-parent" not in [t.name for t in threading.enumerate()]


@pytest.mark.slow
def test_killing_sieve_run_mid_job_leaves_no_process_behind(tmp_path):
    subprocess.run(
        [SIEVE, "synth", "--output", str(tmp_path / "in"), "--docs", "3000"], check=True, capture_output=True
    )
    temp = tmp_path / "tmp"  # the run's temporary folder
    temp.mkdir()
    run = subprocess.Popen(
        [
            SIEVE,
            "run",
            "--input",
            str(tmp_path / "in" / "corpus.warc.gz"),
            "--output",
            str(tmp_path / "out"),
            "--workers",
            "2",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"TMPDIR": str(temp)},
    )  # its own server
    try:

        def deep_in_the_job() -> bool:
            processes = session_processes(run.pid).values()
            assert run.poll() is None, "the run ended before it could be killed mid-job"
            # Both Beam workers (threads of the command) run a range in a supervised child: both are set up.
            ranges = [command for _, command in processes if "supervise import serve" in command]
            return len(ranges) == 2 and any("sieve.flows.server" in command for _, command in processes)

        assert wait_until(deep_in_the_job, 90), session_processes(run.pid)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        assert wait_until(lambda: not session_processes(run.pid), 5), session_processes(run.pid)
        # nor a file of its own: the range processes' beacons have no name (Beam leaves its own empty folders)
        assert not list(temp.glob("sieve-*")), list(temp.iterdir())
    finally:
        for pid in session_processes(run.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

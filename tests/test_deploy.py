"""Scheduled deployments: `sieve deploy`, installed from the built wheel, registers the shipped prefect.yaml with a
real Prefect server, and a real process worker runs the deployed curate flow to a published manifest. Every process
the test starts is ended by it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml

from sieve.flows.deploy import PREFECT_FILE
from tests.conftest import unanswered_port
from tests.test_cli import assert_one_line_error

BIN = Path(sys.executable).parent
DEPLOYMENT = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))["deployments"][0]
NAME = f"curate/{DEPLOYMENT['name']}"
POOL = DEPLOYMENT["work_pool"]["name"]
RUN_SECONDS = 100  # a two-file run takes about 15 s here


@contextmanager
def _started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run cmd in its own process group, and end the whole group afterwards (a worker's flow-run children too)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is still there
        proc.wait()


def _sieve_deploy(
    env: dict[str, str], *args: str, cwd: Path | None = None, sieve: Path = BIN / "sieve"
) -> subprocess.CompletedProcess:
    return subprocess.run([str(sieve), "deploy", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wheel_sieve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `sieve` command of the built wheel installed into a fresh venv: not the clone's editable install, so
    nothing can be found by a path into the repository. Its dependencies come from this venv by a path line (a .pth
    there would also run this venv's editable finder)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root),
            str(Path(__file__).parents[1]),
        ],
        check=True,
        capture_output=True,
    )
    venv.create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "sieve-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = root.glob("sieve-*.whl")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True
    )
    return root / "venv" / "bin" / "sieve"


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def prefect_server(prefect_api: str) -> dict[str, str]:
    """The environment of a command pointed at the session's real Prefect server (deployments, work pools and flow
    runs are kept apart by their names and ids)."""
    return {**os.environ, "PREFECT_API_URL": prefect_api, "DO_NOT_TRACK": "1"}


@pytest.mark.slow
def test_sieve_deploy_registers_the_monthly_deployment_and_a_process_worker_runs_it(
    prefect_server, wheel_sieve, data_dir, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = prefect_server
    result = _sieve_deploy(env, cwd=tmp_path, sieve=wheel_sieve)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"registered {NAME}" in result.stdout and f"worker start --pool {POOL}" in result.stdout

    # Two small files, so no sampling; a relative output, which resolves in the folder `sieve deploy` ran in.
    # Every other parameter keeps the deployment's own value.
    overrides = {
        "inputs": [str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")],
        "output": "out",
        "workers": 1,
        "sample_fraction": None,
    }
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(NAME)
        assert [s.schedule.cron for s in deployment.schedules] == [s["cron"] for s in DEPLOYMENT["schedules"]]
        assert deployment.parameters == DEPLOYMENT["parameters"]
        assert deployment.entrypoint == "sieve.flows.curate.curate" and client.read_work_pool(POOL).type == "process"

        run = client.create_flow_run_from_deployment(deployment.id, parameters=overrides)
        log = tmp_path / "worker.log"
        with _started([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once"], env, log) as worker:
            try:
                deadline = time.monotonic() + RUN_SECONDS
                while not (state := client.read_flow_run(run.id).state).is_final():
                    assert time.monotonic() < deadline, f"run still {state.name} after {RUN_SECONDS} s:\n{_tail(log)}"
                    time.sleep(1)
                assert state.is_completed(), f"flow run {state.name}: {state.message}\n{_tail(log)}"
                assert worker.wait(timeout=30) == 0, _tail(log)
            finally:
                # The worker starts each flow run in a process group of its own, and waits for it when stopped.
                if pid := client.read_flow_run(run.id).infrastructure_pid:
                    with suppress(ProcessLookupError):
                        os.killpg(int(pid), signal.SIGKILL)

    counts = json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]
    assert counts["read"] > 0 and counts["read"] == counts["kept"] + counts["dropped"] + counts["skipped"]


def test_deploy_without_a_server_is_one_clear_error(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    assert_one_line_error(_sieve_deploy(env), "PREFECT_API_URL is not set")
    with unanswered_port() as port:
        unreachable = f"http://127.0.0.1:{port}/api"
        assert_one_line_error(
            _sieve_deploy({**env, "PREFECT_API_URL": unreachable}), f"cannot reach the Prefect server at {unreachable}"
        )


@pytest.mark.slow
def test_deploy_names_a_parameter_the_flow_does_not_take(prefect_server, tmp_path):
    spec = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
    spec["deployments"][0]["parameters"]["sample"] = 0.01
    bad = tmp_path / "prefect.yaml"
    bad.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert_one_line_error(
        _sieve_deploy(prefect_server, "--prefect-file", str(bad)),
        f"deployment {DEPLOYMENT['name']} sets sample, which the curate flow does not take",
    )

"""Runner setup checks run before the flow: a bad setup is one line saying what to do, not a job failing minutes in."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from sieve.schemas.errors import UsageError
from sieve.transforms.storage import is_remote

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
# Long enough for a scheduler across a network, short enough that a typo fails at once.
CONNECT_TIMEOUT_SECONDS = 3.0


def check_runner(runner: str, options: list[str], output: str) -> None:
    """Refuse an unknown runner, unparseable beam.options, or a runner setup that cannot start (UsageError)."""
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # importing Beam warns about optional GCP clients
    try:
        _load_runner(runner)
        opts = _parse_options(options)
        kind = runner.rsplit(".", 1)[-1]
        if kind == "DaskRunner":
            _check_dask(opts)
        elif kind == "DataflowRunner":
            _check_dataflow(opts, output)
        elif kind == "PortableRunner":
            _check_portable(opts)
    finally:
        root.level = level


def _load_runner(name: str) -> None:
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, AttributeError) as e:
        raise UsageError(
            f"--runner {name}: {str(e).split('. Valid')[0]} (DirectRunner, DataflowRunner, PortableRunner, "
            f"or a dotted path to a PipelineRunner class such as {DASK_RUNNER})"
        ) from None
    except ImportError as e:
        raise UsageError(
            f"--runner {name}: {e} (install the runner's packages, e.g. pip install 'sieve[dask]' for Dask)"
        ) from None


def _parse_options(options: list[str]) -> argparse.Namespace:
    """Parse beam.options with every option Beam knows, the runner's own included; Beam itself drops unknown ones silently."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers: list[argparse.ArgumentParser] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)  # the only public way to Beam's full parser
    parser = parsers[0]

    def bad_value(message: str) -> NoReturn:  # argparse would print its whole usage and exit
        raise UsageError(f"beam.options: {message} (fix it in your config's beam.options)")

    parser.error = bad_value
    known, unknown = parser.parse_known_args(options)
    if unknown:
        flags = [flag for action in parser._actions for flag in action.option_strings]
        close = difflib.get_close_matches(unknown[0].split("=", 1)[0], flags, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(
            f"beam.options: Beam does not know {unknown[0]!r}{hint}; fix or remove it in your config's "
            "beam.options (options are written --name=value)"
        )
    if known.runner:
        raise UsageError(
            f"beam.options: --runner={known.runner} belongs on the command line (sieve run --runner NAME), "
            "not in the config"
        )
    return known


def _connect(host: str | None, port: int, what: str, todo: str) -> None:
    host = host or "localhost"
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as e:
        raise UsageError(f"{what}: cannot connect to {host}:{port} ({e.strerror or 'timed out'}); {todo}") from None


def _check_dask(opts: argparse.Namespace) -> None:
    # No address and no scheduler file: Beam starts a LocalCluster on this machine, which needs nothing checked.
    if opts.scheduler_file and not Path(opts.scheduler_file).is_file():
        raise UsageError(
            f"--dask_scheduler_file {opts.scheduler_file}: no such file; pass the file that "
            "`dask scheduler --scheduler-file FILE` writes"
        )
    if not opts.address:
        return
    url = urlsplit(opts.address if "://" in opts.address else f"tcp://{opts.address}")
    if url.scheme not in ("tcp", "tls"):
        return  # other Dask transports (inproc, ucx) have no plain socket to try
    try:
        port = url.port or 8786
    except ValueError:
        raise UsageError(f"--dask_client_address {opts.address}: not an address; write tcp://HOST:PORT") from None
    _connect(
        url.hostname,
        port,
        f"--dask_client_address {opts.address}",
        "start a scheduler (`dask scheduler`, or dask.distributed.LocalCluster) and pass the address it prints",
    )


def _check_dataflow(opts: argparse.Namespace, output: str) -> None:
    missing = [f"--{name}" for name in ("project", "region", "temp_location") if not getattr(opts, name)]
    if missing:
        raise UsageError(
            f"DataflowRunner needs {', '.join(missing)} in beam.options, e.g. [--project=my-project, "
            "--region=us-central1, --temp_location=gs://my-bucket/tmp] (see infra/README.md)"
        )
    if not opts.temp_location.startswith("gs://"):
        raise UsageError(
            f"--temp_location {opts.temp_location}: Dataflow needs a Cloud Storage path, "
            "e.g. --temp_location=gs://my-bucket/tmp"
        )
    if not opts.sdk_container_image:
        raise UsageError(
            "DataflowRunner needs --sdk_container_image=REGISTRY/sieve-worker:TAG in beam.options "
            "(build infra/Dockerfile): Dataflow's default workers have no sieve installed"
        )
    if not is_remote(output):  # each worker would write its shards to its own disk, lost with the VM
        raise UsageError(
            f"--output {output}: Dataflow workers cannot write to this machine's disk; give a gs:// or s3:// output"
        )
    try:
        import apache_beam.runners.dataflow.internal.apiclient  # noqa: F401
    except ImportError:
        raise UsageError(
            "DataflowRunner needs Beam's Google Cloud clients: pip install 'apache-beam[gcp]==2.77.0'"
        ) from None


def _check_portable(opts: argparse.Namespace) -> None:
    endpoint = opts.job_endpoint
    if not endpoint:
        raise UsageError(
            "PortableRunner needs --job_endpoint in beam.options: HOST:PORT of a Spark or Flink job server, "
            "or embed to run the job here (with --environment_type=LOOPBACK)"
        )
    if endpoint != "embed":
        host, _, port = endpoint.rpartition(":")
        if not port.isdigit():
            raise UsageError(
                f"--job_endpoint {endpoint}: write HOST:PORT of a job server (Flink and Spark job servers "
                "listen on 8099) or embed"
            )
        _connect(
            host,
            int(port),
            f"--job_endpoint {endpoint}",
            "start the Spark or Flink job server (see infra/README.md) or fix the address",
        )
    docker = (opts.environment_type or "DOCKER").upper() == "DOCKER"  # Beam's default
    image = opts.environment_config or any(
        o.startswith("docker_container_image=") for o in opts.environment_options or []
    )
    if docker and not image:
        raise UsageError(
            "PortableRunner starts its workers in Docker, and Beam's default image has no sieve installed: add "
            "--environment_config=REGISTRY/sieve-worker:TAG to beam.options (build infra/Dockerfile), or, "
            "with --job_endpoint=embed, --environment_type=LOOPBACK to run them in this process"
        )


@dataclass(frozen=True)
class LocalDask:
    """A Dask cluster on this machine: the scheduler's address, the pids of the processes started (scheduler, then
    each worker's nanny) and of the processes that run the tasks."""

    address: str
    started: list[int]
    task_pids: set[int]


@contextlib.contextmanager
def local_dask_cluster(log: Path, workers: int = 2, memory_limit: str | None = None) -> Iterator[LocalDask]:
    """`dask scheduler` and `workers` single-threaded `dask worker` processes on 127.0.0.1, started as an operator
    starts them (their output in log; each worker with --memory-limit when given), for `--runner DaskRunner` on one
    machine. Stopped through the scheduler at the end: the workers then leave in about 2 s, where SIGTERM makes each
    nanny wait about 8 s on its worker."""
    from dask.distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dask, address = str(Path(sys.executable).parent / "dask"), f"tcp://127.0.0.1:{port}"
    quiet = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]  # no dashboard, no fixed port taken
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *quiet]
    worker = [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", *quiet]
    worker += ["--memory-limit", memory_limit] if memory_limit else []
    with open(log, "w") as out:
        procs = [subprocess.Popen(cmd, stdout=out, stderr=out) for cmd in (scheduler, *[worker] * workers)]
        try:
            with Client(address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=60)
                task_pids = set(client.run(os.getpid).values())
            yield LocalDask(address, [p.pid for p in procs], task_pids)
        finally:
            with contextlib.suppress(Exception), Client(address, timeout=10) as client:
                client.shutdown()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:  # the scheduler was not reachable to tell it
                    proc.kill()
                    proc.wait()

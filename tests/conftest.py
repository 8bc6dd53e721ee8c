"""Shared fixtures. Prefect state goes to a throwaway folder before anything imports prefect."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from filelock import FileLock

# Every temporary file of the session, the suite's and those of the programs it starts (Beam's staging folders,
# torchrun's rendezvous, Chromium's sockets), in one folder per process that is removed when the process ends: a
# run of the suite leaves nothing in /tmp. xdist workers take their basetemp from the controller's folder, so
# made_once's shared runs stay shared.
_TMP = tempfile.mkdtemp(prefix="sieve-tests-")
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = None  # tempfile reads TMPDIR again
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_PREFECT_HOME = tempfile.mkdtemp(prefix="sieve-test-prefect-")  # inside _TMP: removed with it
os.environ["SIEVE_HOME"] = _PREFECT_HOME
os.environ["PREFECT_HOME"] = _PREFECT_HOME  # per process: the client's state, and the database of a server it starts
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)  # never a user's server: the tests start their own (prefect_api)
SHARED_PREFECT_API = "SIEVE_TESTS_PREFECT_API_URL"  # the xdist controller's server (pytest_configure)
SHARED_PREFECT_HOME = "SIEVE_TESTS_PREFECT_HOME"
# The xdist workers and their subprocesses share 2 cores: a process with a thread pool per core (torch, BLAS) fights
# the other worker's. One thread each: 150 tiny-model training steps took 83 s with 2 threads beside the suite's other
# work and ~13 s with 1 (measured on 20 steps: 8.2 s against 2.6 s under load 4).
os.environ["OMP_NUM_THREADS"] = "1"

DATA = Path(__file__).parent / "data"
# Pages written apart from sieve's code, one folder per round (tests/data/README.md): each <lang>/{ordinary,pii,toxic,junk}.
HELD_OUT_ROUNDS = [DATA / f"heldout{n}" for n in ("", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")]
# The fifth round's abusive pages (threats, group hate, misogyny, harassment without swear words or slurs), which no
# list catches: tests/test_heldout.py and tests/test_toxicity.py name them kept.
FIFTH_ROUND_ABUSE = [
    "en/toxic/01-texts-to-ex-partner.txt",
    "en/toxic/02-note-to-neighbour.txt",
    "en/toxic/03-comment-on-journalist.txt",
    "en/toxic/04-debt-collector-voicemail.txt",
    "en/toxic/05-hate-blog-migrants.txt",
    "en/toxic/06-forum-rant-religious-group.txt",
    "en/toxic/07-misogynist-rant-streamer.txt",
    "vi/toxic/01-zalo-de-doa-nguoi-yeu-cu.txt",
    "vi/toxic/02-tin-nhan-doi-no-tin-dung-den.txt",
    "vi/toxic/03-email-de-doa-nha-bao.txt",
    "vi/toxic/04-dien-dan-ky-thi-vung-mien.txt",
    "vi/toxic/05-blog-ky-thi-dan-toc-thieu-so.txt",
    "vi/toxic/06-facebook-bai-xich-phu-nu.txt",
    "vi/toxic/07-confession-bat-nat-hoc-sinh.txt",
]
# A light config for tests about files, not filters: ranges of 10 records, the fast extractor (resiliparse), no
# URL list, language model or presidio to load; the quality stages and dedup as default.
LIGHT_CONFIG = """
read: {records_per_split: 10}
extract: {extractor: resiliparse}
url_filter: {enabled: false}
language_id: {enabled: false}
pii: {enabled: false}
"""
SIEVE = str(Path(sys.executable).parent / "sieve")
# The modules that keep one xdist worker busiest (seconds of a worker, `pytest --durations` of a fresh-clone run),
# handed out first: xdist's own order (most tests first) left the few long end-to-end modules for the end, one worker
# running them alone while the other had nothing left. The rest follow in file order.
LONGEST_FIRST = [
    "test_runners.py",  # 59
    "test_s3_faults.py",  # 59
    "test_trainer.py",  # 57
    "test_dedup.py",  # 53
    "test_lease.py",  # 34
    "test_quality_tools.py",  # 33
    "test_signals.py",  # 29
    "test_pipeline.py",  # 23
    "test_deploy.py",  # 21
    "test_classifier.py",  # 17
    "test_train_e2e.py",  # 14, and the session's synth_run when it is the first to ask
    "test_flow.py",  # 15
    "test_plan_publish.py",  # 15
    "test_supervise.py",  # 15
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules of LONGEST_FIRST first, in its order (make test runs xdist with --no-loadscope-reorder)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order within and after


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, the controller starts the session's one Prefect server (prefect_api) while its workers collect:
    one server's start (4.4 CPU-s) and idle polling (1.5% of a core) instead of one per worker."""
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        from sieve.flows.server import PrefectServer

        server = PrefectServer().__enter__()  # not ready yet: prefect_api waits for it
        config.add_cleanup(lambda: server.__exit__(None, None, None))
        os.environ[SHARED_PREFECT_API] = server.url  # the workers inherit it; this module drops PREFECT_API_URL
        os.environ[SHARED_PREFECT_HOME] = _PREFECT_HOME  # where its database is


def server_home() -> str:
    """The PREFECT_HOME whose database the session's Prefect server (prefect_api) records runs in: a command that
    starts its own server there records them in the same database."""
    return os.environ.get(SHARED_PREFECT_HOME, _PREFECT_HOME)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One real Prefect API server (sieve's own, as `sieve run` starts it) for the modules that run flows: a command
    they start finds PREFECT_API_URL and uses it instead of starting a server of its own (about 6 s of two cores
    each). crawl_run and the lifecycle tests clear the variable, so a command's own server stays tested. Under xdist
    every worker uses the controller's server (flow runs are told apart by their ids, outputs and names)."""
    from sieve.flows.prefect_env import configure_prefect
    from sieve.flows.server import PrefectServer

    if url := os.environ.get(SHARED_PREFECT_API):
        configure_prefect()
        with urllib.request.urlopen(f"{url}/health", timeout=180):  # its socket listens: this waits for the app
            pass
        os.environ.update(PREFECT_API_URL=url, PREFECT_UI_URL="")
        yield url
        return
    with PrefectServer() as server:
        server.wait_ready()
        yield server.url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port bound here and never listened on, for the tests of a server that does not answer: a
    connection is refused, and no server of a test on another xdist worker can take it meanwhile, as one took a port
    free_port had only found free (Beam's gRPC job service answered a "no Prefect server" test in binary)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback with the buckets warcs and corpus, and the standard AWS variables that point at
    it (set for the rest of the session). One per session: storage clients are cached per bucket, so a second
    server would leave them pointing at the first."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
            time.sleep(0.1)
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            import boto3

            for bucket in ("warcs", "corpus"):
                boto3.client("s3").create_bucket(Bucket=bucket)
            yield env
    finally:
        proc.kill()
        proc.wait()


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that make fills once per test session, in whichever xdist worker asks first; the other waits for it
    and reuses it (a session fixture is otherwise built once in every worker: a whole `sieve run` twice). Only for
    what tests read and never change."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, made = root / name, root / f"{name}.made"  # the marker beside the folder: an input folder stays as made
    with FileLock(f"{folder}.lock"):
        if not made.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            made.touch()
    return folder


@pytest.fixture(scope="session")
def crawl_dir(tmp_path_factory) -> Path:
    """The five small real WARC files of tests/data as one input folder (tests/data's subfolders hold other inputs)."""

    def copy(crawl: Path) -> None:
        for path in sorted(DATA.glob("*.warc.gz")):
            shutil.copy(path, crawl / path.name)

    return made_once(tmp_path_factory, "crawl", copy)


@pytest.fixture(scope="session")
def crawl_run(crawl_dir, tmp_path_factory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    """`sieve run` on crawl_dir as a user types it (DirectRunner, 2 workers, default config): (output folder,
    manifest, the finished command). One run that the flow, runner and storage tests all compare against."""

    def command(folder: Path) -> list[str]:
        out = str(folder / "out")
        return [SIEVE, "run", "--input", str(crawl_dir), "--output", out, "--runner", "DirectRunner", "--workers", "2"]

    def run(folder: Path) -> None:
        result = subprocess.run(
            command(folder),
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=600,
            env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        (folder / "command.json").write_text(json.dumps({"stdout": result.stdout, "stderr": result.stderr}))

    folder = made_once(tmp_path_factory, "crawl-run", run)
    out, streams = folder / "out", json.loads((folder / "command.json").read_text())
    result = subprocess.CompletedProcess(command(folder), 0, streams["stdout"], streams["stderr"])
    return out, json.loads((out / "manifest.json").read_text()), result


SYNTH_FILES = 4  # synth_crawl's files


@pytest.fixture(scope="session")
def synth_crawl(tmp_path_factory) -> Path:
    """Four small synthetic WARC files (60 documents each, seeds 0..3): the input of the runs that are killed or
    stopped part way and resumed."""
    from sieve.flows.synth import write_synthetic_corpus

    root = tmp_path_factory.mktemp("synth-crawl")
    for i in range(SYNTH_FILES):
        write_synthetic_corpus(root / f"seg{i}", docs=60, seed=i)
    return root


def synth_crawl_command(crawl: Path, out: Path) -> list[str]:
    """`sieve run` on synth_crawl: one Beam job for all files (the default batching here), 2 workers, the light config
    (ranges of 10 records, about 6 per file; stops and resumes are about files, not filters)."""
    config = out.parent / f"{out.name}-ranges.yaml"
    config.write_text(LIGHT_CONFIG)
    return [SIEVE, "run", "--input", str(crawl), "--output", str(out), "--workers", "2", "--config", str(config)]


@pytest.fixture(scope="session")
def synth_crawl_run(synth_crawl, prefect_api, tmp_path_factory) -> Path:
    """synth_crawl_command run to its end, uninterrupted (its output folder): what a killed or stopped run of the same
    command must publish once resumed."""
    out = tmp_path_factory.mktemp("synth-crawl-run") / "out"
    result = subprocess.run(synth_crawl_command(synth_crawl, out), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def published_shards(out: Path) -> tuple[dict, dict[str, bytes]]:
    """An output's manifest and the bytes of every shard it lists, by path."""
    manifest = json.loads((out / "manifest.json").read_text())
    shards = {
        s["path"]: (out / s["path"]).read_bytes() for kind in ("kept", "dropped") for s in manifest["shards"][kind]
    }
    return manifest, shards


def session_processes(sid: int) -> list[int]:
    """Pids of live processes in a session (zombies excluded): what a command started in a session of its own left."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state ppid pgrp session
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture(scope="session")
def hf_datasets(tmp_path_factory):
    """The real Hugging Face `datasets` library, offline (nothing from the hub), its home in a throwaway folder: set
    before its first import, which reads them."""
    os.environ.update(HF_HOME=str(tmp_path_factory.mktemp("hf")), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    import datasets

    datasets.disable_progress_bars()
    return datasets


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """A 300-document synthetic corpus with truth.json (deterministic, seed 7)."""
    from sieve.flows.synth import write_synthetic_corpus

    return made_once(tmp_path_factory, "synth", lambda out: write_synthetic_corpus(out, docs=300, seed=7))


@pytest.fixture(scope="session")
def synth_run(synth_corpus, tmp_path_factory) -> Path:
    """A real Beam run of the 300-document synthetic corpus: its kept/ shards feed the training-data tests."""
    return (
        made_once(tmp_path_factory, "synth-run", lambda f: run_beam([synth_corpus / "corpus.warc.gz"], f / "run"))
        / "run"
    )


def run_beam(paths: list, run_dir: Path, cfg=None, workers: int = 1) -> tuple[dict, dict]:
    """Run the real Beam job on paths into run_dir: (Beam counters, summary read back from the shards). One worker
    unless a test is about parallelism: the shards do not depend on it (test_pipeline.py checks 1 against 2), and
    each more costs a range process's start (~2-3 CPU-s a run)."""
    from sieve.flows.jobs import run_files
    from sieve.schemas.config import load_config

    return run_files([str(p) for p in paths], cfg or load_config(), str(run_dir), workers=workers)


def source(path) -> dict:
    """An input file as the Beam stages receive it."""
    return {"uri": str(path), "name": Path(path).name}


def write_config(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# Prefect logs "stopping temporary server" at interpreter exit, after pytest has closed its captured streams.
logging.raiseExceptions = False

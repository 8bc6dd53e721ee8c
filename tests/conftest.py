"""Shared fixtures. Prefect state goes to a throwaway folder before anything imports prefect."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="sieve-test-prefect-")
os.environ["SIEVE_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)  # always the real ephemeral local server

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """A 300-document synthetic corpus with truth.json (deterministic, seed 7)."""
    from sieve.flows.synth import write_synthetic_corpus

    out = tmp_path_factory.mktemp("synth")
    write_synthetic_corpus(out, docs=300, seed=7)
    return out


@pytest.fixture(scope="session")
def synth_run(synth_corpus, tmp_path_factory) -> Path:
    """A real Beam run of the 300-document synthetic corpus: its kept/ shards feed the training-data tests."""
    run_dir = tmp_path_factory.mktemp("synth-run") / "run"
    run_beam([synth_corpus / "corpus.warc.gz"], run_dir)
    return run_dir


def run_beam(paths: list, run_dir: Path, cfg=None, workers: int = 2) -> tuple[dict, dict]:
    """Run the real Beam job on paths into run_dir: (Beam counters, summary read back from the shards)."""
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

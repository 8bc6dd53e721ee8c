"""The `sieve` command line: clear one-line errors for bad input, config or output; config show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import LIGHT_CONFIG

SIEVE = str(Path(sys.executable).parent / "sieve")
pytestmark = pytest.mark.usefixtures("prefect_api")  # one Prefect server for the session


def sieve(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SIEVE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def sieve_in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """The command run by main() in this process: for refusals the command makes before any job starts, where a
    process start adds seconds and checks nothing more."""
    from sieve.flows.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["sieve", *args], code, out, err)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sieve: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_input(tmp_path):
    result = sieve("run", "--input", str(tmp_path / "nope.warc.gz"), "--output", str(tmp_path / "out"))
    assert_one_line_error(result, "input not found", "nope.warc.gz")


def test_glob_matching_nothing_and_empty_directory(tmp_path):
    assert_one_line_error(
        sieve("run", "--input", str(tmp_path / "*.warc.gz"), "--output", str(tmp_path / "o")), "matches no files"
    )
    assert_one_line_error(
        sieve("run", "--input", str(tmp_path), "--output", str(tmp_path / "o")), "no *.warc or *.warc.gz files"
    )


def test_bad_config_key(data_dir, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("extract:\n  extractr: trafilatura\n")
    result = sieve(
        "run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(tmp_path / "out"), "--config", str(config)
    )
    assert_one_line_error(result, "bad.yaml", "extract.extractr", "unknown key")


def test_unwritable_output(data_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = sieve("run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(blocker / "out"))
    assert_one_line_error(result, "output", "cannot be used", "a-file/out", "choose a writable location")


def test_output_that_is_someone_elses_directory_is_refused(data_dir, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = sieve("run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(tmp_path))
    assert_one_line_error(result, "not empty and is not a sieve output")
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_unknown_runner(data_dir, tmp_path):
    result = sieve(
        "run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(tmp_path / "o"), "--runner", "Nope"
    )
    assert_one_line_error(result, "--runner Nope", "Unexpected pipeline runner")


def test_config_show_prints_the_effective_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("languages:\n  vi: {min_language_score: 0.8}\n")
    result = sieve("config", "show", "--config", str(config))
    assert result.returncode == 0
    shown = yaml.safe_load(result.stdout)
    assert shown["languages"]["vi"]["min_language_score"] == 0.8
    assert shown["extract"]["extractor"] == "trafilatura"
    assert result.stdout.startswith("# effective config (hash ")


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--workers", "0", "must be at least 1"),
        ("--limit-files", "0", "must be at least 1"),
        ("--batch-files", "0", "must be at least 1"),
        ("--sample-fraction", "1.5", "must be in (0, 1]"),
    ],
)
def test_nonsense_numbers_are_refused(flag, value, message, tmp_path, data_dir):
    result = sieve("run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(tmp_path / "o"), flag, value)
    assert_one_line_error(result, flag, message)


def test_nonsense_synth_size_is_refused(tmp_path):
    assert_one_line_error(sieve("synth", "--output", "x", "--docs", "0", cwd=tmp_path), "must be at least 1")


def test_a_prefect_server_that_does_not_answer_is_one_line(data_dir, tmp_path):
    """PREFECT_API_URL names a server that is not running (stopped, a typo): one line naming it and what to do."""
    from tests.conftest import unanswered_port

    with unanswered_port() as port:
        url = f"http://127.0.0.1:{port}/api"
        result = subprocess.run(
            [SIEVE, "run", "--input", str(data_dir / "articles-sample.warc.gz"), "--output", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "PREFECT_API_URL": url},
        )
    assert_one_line_error(result, f"PREFECT_API_URL={url}: no Prefect server answers there", "prefect server start")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_the_sieve_program_runs_a_job_without_importing_pandas(data_dir, tmp_path):
    """Beam would import pandas for its pandas type hints (0.2 s of a run's start); `sieve run` hides it, and the
    range workers hide it and torch. Python's import log of the command and its children shows neither loaded."""
    config = tmp_path / "light.yaml"
    config.write_text(LIGHT_CONFIG)
    result = subprocess.run(
        [SIEVE, "run", "--input", str(data_dir / "clipped.warc.gz"), "--output", str(tmp_path / "out")]
        + ["--workers", "1", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # A hidden package's failed import is logged too, under its bare name; a real import logs its submodules.
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    loaded = {name.split(".", 1)[0] for line in lines if "." in (name := line.rsplit("|", 1)[1].strip())}
    assert {"apache_beam", "sieve", "pyarrow"} <= loaded
    assert not {"pandas", "torch"} & loaded

"""Progress of long commands (transforms/progress.py): a bar with rate and ETA on a terminal, plain lines anywhere
else; and the Beam job's progress read from its range markers (flows/progress.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import subprocess
import sys
import time

import pytest
from rich.console import Console

from sieve.flows.plan import plan_inputs
from sieve.flows.progress import watch_progress
from sieve.transforms.progress import Progress

ESCAPE = "\x1b["
# A tiny command: three items, shown by the default console (stderr), whatever it is connected to.
COUNT_THREE = """
import time
from sieve.transforms.progress import Progress
with Progress("demo", 3, "items", every_seconds=0) as progress:
    for _ in range(3):
        time.sleep(0.05)
        progress.advance(1)
"""


def count(progress: Progress, n: int) -> None:
    for i in range(n):
        time.sleep(0.01)
        progress.advance(1, note=f"note {i}")


def test_off_a_terminal_progress_is_a_plain_line_every_few_seconds():
    out = io.StringIO()
    with Progress("tokenizing", 5, "items", every_seconds=0, console=Console(file=out, force_terminal=False)) as p:
        count(p, 5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and ESCAPE not in out.getvalue()
    assert re.fullmatch(r"tokenizing: 3/5 items, [\d.,]+/s, 60% done, ETA 0:00:0\d, note 2", lines[2]), lines[2]
    assert re.fullmatch(r"tokenizing: 5/5 items, [\d.,]+/s, 100% done, note 4", lines[4]), lines[4]

    quiet = io.StringIO()
    with Progress("tokenizing", 5, "items", console=Console(file=quiet, force_terminal=False)) as p:
        count(p, 5)  # within the first LOG_SECONDS: nothing yet
    assert quiet.getvalue() == ""


def test_a_logger_gets_the_lines_and_an_unknown_total_gives_a_count_and_a_rate(caplog):
    log = logging.getLogger("sieve.test-progress")
    with caplog.at_level(logging.INFO, logger=log.name):
        with Progress("reading text", every_seconds=0, log=log, console=Console(file=io.StringIO())) as p:
            count(p, 3)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and re.fullmatch(r"reading text: 3 documents, [\d.,]+/s, note 2", messages[2])


def test_on_a_terminal_progress_draws_a_bar_with_rate_and_eta():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with Progress("training", 50, "steps", done=10, console=console) as p:  # resumed at step 10
        count(p, 40)
    drawn = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    assert "━" in drawn and ESCAPE in out.getvalue()
    last = drawn.replace("\r", "\n").strip().splitlines()[-1]
    assert re.search(r"100% 50/50 steps, [\d.,]+/s 0:00:0\d note 39$", last), last
    assert re.search(r"\d+% \d+/50 steps, [\d.,]+/s 0:00:0\d note", drawn)  # while it runs: the rate and the ETA


def test_a_command_draws_a_bar_on_a_terminal_and_writes_lines_into_a_pipe():
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["TERM"] = "xterm-256color"
    command = [sys.executable, "-c", COUNT_THREE]
    piped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0 and ESCAPE not in piped.stderr
    assert [line.split(",")[0] for line in piped.stderr.splitlines()] == [f"demo: {i}/3 items" for i in (1, 2, 3)]

    main, child = pty.openpty()
    proc = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    screen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the command ended and closed its side
            break
        if not chunk:
            break
        screen += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = screen.decode("utf-8", "replace")
    assert "━" in text and ESCAPE in text and "3/3 items" in text and "demo: 1/3" not in text


@pytest.mark.slow
def test_the_beam_job_progress_is_read_from_its_range_markers(synth_corpus, synth_run, caplog):
    files = plan_inputs([str(synth_corpus / "corpus.warc.gz")])
    truth = json.loads((synth_corpus / "truth.json").read_text())
    records = truth["docs"] + sum(truth["non_response_records"].values())  # every WARC record of the corpus
    log = logging.getLogger("sieve.test-progress")
    with caplog.at_level(logging.INFO, logger=log.name):
        with watch_progress(str(synth_run), files, log, every_seconds=0.05, log_seconds=0):
            time.sleep(0.5)
    size = f"{files[0].size / 1e6:.1f}"
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all(line.startswith(f"beam job: {size}/{size} MB, ") for line in lines)
    assert re.search(rf", 100% done, {records} records \([\d,]+/s\)$", lines[-1]), lines[-1]

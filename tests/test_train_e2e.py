"""End to end, as a user types it: a run's output -> tokenize -> train, each a real `sieve` subprocess, then torchrun.
The run is the session's run of the 300-document synthetic corpus (tests/conftest.py synth_run; `sieve synth` and
`sieve run` as commands are tested elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sieve.trainer.indexed import IndexedTokens

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session

SIEVE = str(Path(sys.executable).parent / "sieve")
STEPS = 40


def _run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _metrics(train_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_tokenize_train(synth_run: Path, tmp_path: Path) -> None:
    # A 2000-piece vocabulary: the default 32000 needs more text than 300 synthetic documents.
    _run([SIEVE, "tokenize", "--input", str(synth_run), "--output", "tok", "--vocab-size", "2000"], tmp_path)

    tok = tmp_path / "tok"
    summary = json.loads((tok / "tokens.json").read_text())
    assert (tok / "tokenizer" / "tokenizer.model").is_file() and summary["vocab_size"] == 2000
    for lang in ("en", "vi"):
        train = IndexedTokens(str(tok / f"{lang}_train"))
        assert len(train) > 20
        ids = train[0]
        assert ids[-1] == summary["eod_id"] and ids.max() < summary["vocab_size"]
    assert sum(f["tokens"] for f in summary["files"]) == summary["tokens"] > 50_000

    (tmp_path / "train.yaml").write_text("training:\n  log_interval: 1\n  warmup_steps: 5\n")
    args = ["train", "--data", "tok", "--preset", "tiny", "--steps", str(STEPS), "--config", "train.yaml"]
    _run([SIEVE, *args, "--output", "train1"], tmp_path)
    one = _metrics(tmp_path / "train1")
    assert [m["step"] for m in one] == list(range(1, STEPS + 1))
    for m in one:
        assert {"step", "loss", "lr", "tokens_per_s", "mfu"} <= m.keys()
        assert m["tokens_per_s"] > 0 and 0 < m["mfu"] < 1
    assert one[-1]["loss"] < one[0]["loss"] - 0.8  # from ln(2000) = 7.6 towards the text's entropy
    assert "val_loss_en" in one[-1] and "val_loss_vi" in one[-1]
    latest = tmp_path / "train1" / "checkpoints" / "latest"
    assert latest.read_text().strip() == f"step-{STEPS:06d}"
    assert any((latest.parent / f"step-{STEPS:06d}").iterdir())

    # Two processes under torchrun: the same global batch split over them gives the one-process losses.
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "-m",
            "sieve.flows.cli",
            *args,
            "--output",
            "train2",
        ],
        tmp_path,
    )
    two = _metrics(tmp_path / "train2")
    assert len(two) == STEPS
    assert json.loads((tmp_path / "train2" / "run.json").read_text())["world_size"] == 2
    assert two[-1]["loss"] == pytest.approx(one[-1]["loss"], abs=1e-2)
    assert (tmp_path / "train2" / "checkpoints" / "latest").is_file()

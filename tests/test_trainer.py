"""The GPT trainer: sample index, MFU formula, DDP/FSDP2 against one process, exact resume, and overfitting a tiny
corpus. Token files are real text (the hand-checked bodies of the 181 real article pages) tokenized with
SentencePiece and written with trainer/indexed.py's writer; several processes run under torchrun with gloo."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch
import yaml
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

from sieve.flows.cli import main
from sieve.schemas.config import load_config
from sieve.trainer.checkpoint import CHECKPOINTS, LATEST
from sieve.trainer.indexed import SUMMARY, IndexedTokens, IndexedTokenWriter
from sieve.trainer.model import GPT, model_config
from sieve.trainer.parallel import mesh_shape
from sieve.trainer.sample_index import BlendedSamples, TokenSamples, blend_index
from sieve.trainer.train import METRICS, train

ARTICLES = Path(__file__).parent / "data" / "articles" / "articles.truth.json"
SEQ = 64
STEPS = 12


def _write_tokens(folder: Path, splits: dict[str, list[list[int]]], vocab_size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, docs in splits.items():
        with IndexedTokenWriter(str(folder / prefix), np.uint16) as writer:
            for ids in docs:
                writer.add(ids)
    (folder / SUMMARY).write_text(json.dumps({"vocab_size": vocab_size}))


@pytest.fixture(scope="module")
def articles(tmp_path_factory) -> Path:
    """en_train (160 real articles, 344k tokens) and en_validation (21) with a 1000-piece SentencePiece."""
    bodies = [v["articleBody"] for v in json.loads(ARTICLES.read_text()).values()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=(line for body in bodies for line in body.splitlines() if line.strip()),
        model_writer=model,
        vocab_size=1000,
        character_coverage=0.995,
        byte_fallback=True,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    docs = [ids + [sp.eos_id()] for ids in sp.encode(bodies)]
    out = tmp_path_factory.mktemp("tokens")
    _write_tokens(out, {"en_train": docs[:160], "en_validation": docs[160:]}, sp.get_piece_size())
    _write_tokens(out / "small", {"en_train": docs[:2]}, sp.get_piece_size())  # 2,500 tokens to overfit
    return out


def _config(folder: Path, **training) -> Path:
    settings = {
        "datasets": {"en": 1.0, "vi": 0},
        "steps": STEPS,
        "log_interval": 1,
        "eval_interval": 6,
        "checkpoint_interval": 6,
        "micro_batch_size": 4,
        "global_batch_size": 16,
        "lr": 3e-3,
        "warmup_steps": 3,
        **training,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"training": settings}))
    return path


def _train(processes: int, data: Path, output: Path, **training) -> tuple[list[dict], str]:
    """`sieve train` in a subprocess: plain python for one process, torchrun (gloo) for several."""
    output.mkdir(parents=True, exist_ok=True)
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    cmd = [
        *launcher,
        "-m",
        "sieve.flows.cli",
        "train",
        "--data",
        str(data),
        "--output",
        str(output),
        "--config",
        str(_config(output, **training)),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in (output / METRICS).read_text().splitlines()], done.stdout


@pytest.fixture(scope="module")
def runs(articles, tmp_path_factory) -> dict[str, tuple[list[dict], str]]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "one": _train(1, articles, root / "one", parallelism={"dp_shard": "ddp"}),
        "ddp": _train(2, articles, root / "ddp", parallelism={"dp_shard": "ddp"}),
        # activation checkpointing recomputes the same numbers, so it must not move the curve either
        "fsdp": _train(2, articles, root / "fsdp", parallelism={"dp_shard": "fsdp"}, activation_checkpointing=True),
        "root": root,
    }


@pytest.mark.slow
def test_ddp_and_fsdp_on_two_processes_follow_the_one_process_loss_curve(runs):
    one = [line["loss"] for line in runs["one"][0]]
    assert len(one) == STEPS and one[-1] < one[0]
    for mode in ("ddp", "fsdp"):
        lines, log = runs[mode]
        assert "2 x cpu process(es), " + mode in log
        np.testing.assert_allclose([line["loss"] for line in lines], one, rtol=1e-5)
        np.testing.assert_allclose(
            [line["val_loss"] for line in lines if "val_loss" in line],
            [line["val_loss"] for line in runs["one"][0] if "val_loss" in line],
            rtol=1e-5,
        )
        assert [line["step"] for line in lines if "val_loss" in line] == [6, 12]


@pytest.mark.slow
def test_fsdp_run_killed_after_a_checkpoint_resumes_with_the_uninterrupted_losses(runs, articles):
    """A kill after step 6's checkpoint leaves that checkpoint as latest and metrics lines past it; the
    resumed run (same 2 processes) must give bit-identical losses for steps 7..12."""
    uninterrupted, _ = runs["fsdp"]
    killed = runs["root"] / "killed"
    shutil.copytree(runs["root"] / "fsdp", killed)
    shutil.rmtree(killed / CHECKPOINTS / "step-000012")
    (killed / CHECKPOINTS / LATEST).write_text("step-000006\n")
    lines, log = _train(2, articles, killed, parallelism={"dp_shard": "fsdp"}, activation_checkpointing=True)
    assert f"resuming from {killed / CHECKPOINTS / 'step-000006'} (step 6, 96 samples read)" in log
    assert [line["step"] for line in lines] == list(range(1, STEPS + 1))  # the killed run's later lines replaced
    assert [line["loss"] for line in lines] == [line["loss"] for line in uninterrupted]
    assert lines[-1]["val_loss"] == uninterrupted[-1]["val_loss"]


@pytest.fixture(scope="module")
def mesh_runs(articles, tmp_path_factory) -> dict[str, tuple[list[dict], str]]:
    """Tensor parallel and a 2-stage pipeline on 2 processes (dp 1); only 2 cores, so no mesh beyond 2 here."""
    root = tmp_path_factory.mktemp("mesh")
    return {
        "tp": _train(2, articles, root / "tp", parallelism={"dp_shard": "fsdp", "tp": 2}),
        "pp": _train(2, articles, root / "pp", parallelism={"dp_shard": "fsdp", "pp": 2}),
        "root": root,
    }


def _tied_weights(checkpoint: Path, tmp_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The saved tok_embeddings and output weights, read back from the DCP checkpoint in this process."""
    dcp_to_torch_save(checkpoint, tmp_path / "state.pt")
    model = torch.load(tmp_path / "state.pt", weights_only=False)["model"]
    return model["tok_embeddings.weight"], model["output.weight"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tp", "pp"])
def test_tensor_and_pipeline_parallel_follow_the_one_process_loss_curve(runs, mesh_runs, mode, tmp_path):
    """tp=2 (heads and MLP split over 2 processes) and pp=2 (one layer per stage, the tied embedding's gradient
    summed across the stages) train the same model as one process: same losses, same tied matrix at the end."""
    lines, log = mesh_runs[mode]
    one = runs["one"][0]
    assert f"fsdp (pp {2 if mode == 'pp' else 1} x dp 1 x tp {2 if mode == 'tp' else 1})" in log
    for key in ("loss", "grad_norm", "val_loss"):
        np.testing.assert_allclose(
            [line[key] for line in lines if key in line], [line[key] for line in one if key in line], rtol=1e-5
        )
    embeddings, output = _tied_weights(mesh_runs["root"] / mode / CHECKPOINTS / "step-000012", tmp_path)
    assert torch.equal(embeddings, output)  # still one matrix after 12 updates
    one_embeddings, _ = _tied_weights(runs["root"] / "one" / CHECKPOINTS / "step-000012", tmp_path)
    torch.testing.assert_close(embeddings, one_embeddings, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_pipeline_run_resumes_with_the_uninterrupted_losses(mesh_runs, articles):
    """Each stage saves and reloads its own layers and optimizer state: steps 7..12 repeat bit for bit."""
    uninterrupted, _ = mesh_runs["pp"]
    killed = mesh_runs["root"] / "pp-killed"
    shutil.copytree(mesh_runs["root"] / "pp", killed)
    shutil.rmtree(killed / CHECKPOINTS / "step-000012")
    (killed / CHECKPOINTS / LATEST).write_text("step-000006\n")
    lines, log = _train(2, articles, killed, parallelism={"dp_shard": "fsdp", "pp": 2})
    assert "(step 6, 96 samples read)" in log
    assert [line["loss"] for line in lines] == [line["loss"] for line in uninterrupted]
    assert lines[-1]["val_loss"] == uninterrupted[-1]["val_loss"]


def test_mesh_shape_names_the_numbers_that_do_not_fit():
    cfg = load_config(None).training.parallelism
    tiny = model_config("tiny", vocab_size=1000)  # 4 heads, MLP 176, 2 layers
    assert mesh_shape(8, cfg.model_copy(update={"tp": 2, "pp": 2}), tiny) == (2, 2, 2)
    cases = [
        (6, {"tp": 4}, "6 processes are not a multiple of tp 4 x pp 1 = 4"),
        (3, {"tp": 3}, "tp 3 must divide the model's 4 heads"),
        (4, {"pp": 4}, "pp 4 stages for 2 layers"),
        (2, {"tp": 2, "dp_shard": "ddp"}, "tp > 1 needs dp_shard: fsdp"),
    ]
    for world, update, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            mesh_shape(world, cfg.model_copy(update=update), tiny)


def test_tiny_preset_overfits_a_tiny_corpus(articles, tmp_path):
    """In one process without torchrun: 150 steps of 16 samples (about 60 epochs) more than halve the loss."""
    cfg = load_config(_config(tmp_path, steps=150, eval_interval=1000, checkpoint_interval=1000)).training
    lines = train(str(articles / "small"), str(tmp_path / "out"), cfg)
    first, last = lines[0]["loss"], lines[-1]["loss"]
    assert first > 6.5  # ln(1000) = 6.9: an untrained model guesses uniformly
    assert last < first / 2, (first, last)


def test_flops_per_token_match_a_hand_count_and_mfu_uses_them(runs):
    model = GPT(model_config("tiny", vocab_size=1000))
    dim, ffn, layers, heads = 64, 176, 2, 4
    params = 1000 * dim + layers * (4 * dim * dim + 3 * dim * ffn + 2 * dim) + dim  # tied embedding once
    assert model.num_params() == params == 164_672
    assert model.num_flops_per_token(SEQ) == 6 * params + 12 * layers * heads * (dim // heads) * SEQ == 1_086_336
    line = runs["one"][0][-1]
    assert line["mfu"] == pytest.approx(1_086_336 * line["tokens_per_s"] / 989e12)


def _numbered_documents(folder: Path, name: str, first_id: int, count: int, seed: int) -> IndexedTokens:
    """Documents of random lengths whose tokens are distinct ids counting up from first_id; 0 ends each one."""
    rng = np.random.default_rng(seed)
    docs, next_id = [], first_id
    for length in rng.integers(1, 200, size=count):
        docs.append(list(range(next_id, next_id + length)) + [0])
        next_id += length
    _write_tokens(folder, {name: docs}, 65_000)
    return IndexedTokens(str(folder / name))


def test_samples_are_deterministic_and_cover_every_token_once_per_epoch(tmp_path):
    tokens = _numbered_documents(tmp_path, "en_train", 1, 120, seed=1)
    total = int(tokens.lengths.sum())
    samples = TokenSamples(tokens, SEQ, seed=7)
    assert len(samples) == (total - 1) // SEQ
    again, other = TokenSamples(tokens, SEQ, seed=7), TokenSamples(tokens, SEQ, seed=8)
    assert all(np.array_equal(samples[k], again[k]) for k in range(2 * len(samples)))
    assert not all(np.array_equal(samples[k], other[k]) for k in range(len(samples)))
    for epoch in (0, 1):
        windows = [samples[epoch * len(samples) + i] for i in range(len(samples))]
        assert all(len(w) == SEQ + 1 for w in windows)
        inputs = np.concatenate([w[:-1] for w in windows])
        ids = inputs[inputs > 0]
        assert len(np.unique(ids)) == len(ids)  # no token twice in an epoch
        assert total - len(tokens) - len(ids) <= SEQ  # and every one but a tail shorter than a window
        for w in windows:  # a window is a contiguous run of documents: ids count up, restarting after an end
            for a, b in zip(w[:-1], w[1:]):
                assert b == a + 1 or a == 0 or b == 0
    first_epoch = [tuple(samples[i]) for i in range(len(samples))]
    assert first_epoch != [tuple(samples[len(samples) + i]) for i in range(len(samples))]


def test_blend_respects_weights_in_every_prefix_and_reads_the_right_files(tmp_path):
    chosen, within = blend_index([0.8, 0.2], 1000)
    counts = np.cumsum(np.eye(2, dtype=int)[chosen], axis=0)
    expected = np.outer(np.arange(1, 1001), [0.8, 0.2])
    assert np.abs(counts - expected).max() <= 1 and counts[-1].tolist() == [800, 200]
    assert within[chosen == 1].tolist() == list(range(200))  # each file's samples in order, none skipped
    shorter = blend_index([0.8, 0.2], 300)  # a run extended later reads the same first samples
    assert np.array_equal(shorter[0], chosen[:300]) and np.array_equal(shorter[1], within[:300])
    en = TokenSamples(_numbered_documents(tmp_path, "en_train", 1, 80, seed=2), SEQ, seed=0)
    vi = TokenSamples(_numbered_documents(tmp_path, "vi_train", 40_000, 80, seed=3), SEQ, seed=0)
    blend = BlendedSamples([en, vi], [3, 1], 400)
    from_vi = [int(blend[i].max() >= 40_000) for i in range(400)]
    assert sum(from_vi) == 100 and from_vi == blend.dataset_index.tolist()


def test_train_names_the_missing_language_file(articles, tmp_path, capsys):
    assert main(["train", "--data", str(articles), "--output", str(tmp_path / "out"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "no vi_train.bin/.idx (languages there: en)" in err and "training.datasets" in err

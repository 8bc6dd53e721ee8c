"""`sieve train`: pretrain a GPT on `sieve tokenize` output, in one process or several under torchrun.

Reads top to bottom: processes and devices, the data, the model and its parallel wrapping, resume, then the loop
(forward, loss, backward over the micro-batches of a step, clip, optimizer step), with logging, validation and
checkpoints at their intervals. Steps and the data position are global, so a resumed run repeats the losses of an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor

from sieve.schemas.config import TrainingConfig
from sieve.schemas.errors import UsageError
from sieve.trainer.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from sieve.trainer.indexed import SUMMARY, IndexedTokens
from sieve.trainer.model import GPT, loss_fn, model_config
from sieve.trainer.parallel import build_mesh, mesh_shape, parallelize, set_gradient_sync
from sieve.trainer.pipeline import Pipeline, split_stage
from sieve.trainer.sample_index import BlendedSamples, TokenSamples
from sieve.transforms.progress import Progress

METRICS = "metrics.jsonl"


def setup_distributed(cfg: TrainingConfig) -> torch.device:
    """Join the process group: torchrun's when launched by it, else a group of one (same code path either way)."""
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise UsageError("training.device is cuda but torch sees no GPU; set device: auto or cpu")
    backend = "nccl" if cuda else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "RANK" in os.environ:
        dist.init_process_group(backend)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return device


def lr_at(step: int, cfg: TrainingConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then a cosine from lr down to min_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def open_samples(data: str, cfg: TrainingConfig, seq_len: int, split: str) -> dict[str, TokenSamples]:
    """Each configured language's DIR/<lang>_<split> token file as fixed-length samples; a missing validation file
    is skipped (no validation loss for that language), a missing training file is an error."""
    samples = {}
    for lang in (lang for lang, weight in cfg.datasets.items() if weight > 0):
        prefix = os.path.join(data, f"{lang}_{split}")
        if not os.path.exists(prefix + ".idx"):
            if split == "train":
                there = sorted(p.name.removesuffix("_train.idx") for p in Path(data).glob("*_train.idx"))
                raise UsageError(
                    f"--data {data}: no {lang}_train.bin/.idx (languages there: "
                    f"{', '.join(there) or 'none'}); set training.datasets in --config to the "
                    f"languages you have (weight 0 leaves one out)"
                )
            continue
        try:
            samples[lang] = TokenSamples(IndexedTokens(prefix), seq_len, cfg.seed)
        except ValueError as e:
            if split == "train":
                raise UsageError(str(e)) from None
            print(f"no validation loss for {lang}: {e}", flush=True)
    return samples


def build_optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (embeddings, projections) and none on norm weights."""
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def _by_mesh(params: list[nn.Parameter]) -> list[list[nn.Parameter]]:
    """Parameters grouped by their gradients' mesh (FSDP's "dp", FSDP + tensor parallel's "dp" x "tp", or none):
    one norm or foreach call takes DTensors of a single mesh."""
    groups = defaultdict(list)
    for p in params:
        groups[p.grad.device_mesh if isinstance(p.grad, DTensor) else None].append(p)
    return list(groups.values())


def clip_gradients(model: nn.Module, max_norm: float, pipeline: Pipeline | None) -> torch.Tensor:
    """Scale gradients to a global norm of at most max_norm; returns the norm before clipping (a tensor: reading
    it would wait for the GPU, so only logged steps do). With a pipeline the squares are summed over the stages."""
    params = [p for p in model.parameters() if p.grad is not None]
    squares = torch.zeros((), device=params[0].device)
    for group in _by_mesh(pipeline.counted_in_norm(params) if pipeline else params):
        norm = torch.nn.utils.get_total_norm([p.grad for p in group], foreach=True)
        squares = squares + (norm.full_tensor() if isinstance(norm, DTensor) else norm) ** 2  # sharded: partial
    if pipeline:
        dist.all_reduce(squares, group=pipeline.group)
    total = squares.sqrt()
    for group in _by_mesh(params):
        torch.nn.utils.clip_grads_with_norm_(group, max_norm, total, foreach=True)
    return total


def _tokens(rows: list, device: torch.device) -> torch.Tensor:
    return torch.stack([torch.from_numpy(row) for row in rows]).to(device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    pipeline: Pipeline | None,
    samples: dict[str, TokenSamples],
    cfg: TrainingConfig,
    autocast: Any,
    dp_rank: int,
    dp: int,
    device: torch.device,
) -> dict[str, float]:
    """Mean loss over eval_batches global batches of each language's validation samples, split over the
    data-parallel ranks like a training step (so the figure does not depend on the number of processes)."""
    per_rank, mb = cfg.global_batch_size // dp, cfg.micro_batch_size
    model.eval()
    losses = {}
    for lang, ds in samples.items():
        total = torch.zeros(2, device=device)  # sum of micro-batch (pipeline: step) mean losses, their count
        for b in range(cfg.eval_batches):
            start = b * cfg.global_batch_size + dp_rank * per_rank
            if pipeline:  # the loss exists on the last stage only; the others add nothing to either sum
                loss = pipeline.eval(_tokens([ds[k] for k in range(start, start + per_rank)], device))
                if loss is not None:
                    total += torch.stack([loss, torch.ones_like(loss)])
                continue
            for m in range(0, per_rank, mb):
                tokens = _tokens([ds[k] for k in range(start + m, start + m + mb)], device)
                with autocast:
                    total[0] += loss_fn(model(tokens[:, :-1]), tokens[:, 1:])
                total[1] += 1
        dist.all_reduce(total)
        losses[lang] = (total[0] / total[1]).item()
    model.train()
    return losses


def train(data: str, output: str, cfg: TrainingConfig) -> list[dict[str, Any]]:
    """Train for cfg.steps optimizer steps (resuming from OUTPUT's latest checkpoint); returns the metrics lines."""
    device = setup_distributed(cfg)
    try:
        return _train(data, output, cfg, device)
    finally:
        dist.destroy_process_group()


def _train(data: str, output: str, cfg: TrainingConfig, device: torch.device) -> list[dict[str, Any]]:
    rank, world = dist.get_rank(), dist.get_world_size()
    say = print if rank == 0 else (lambda *a, **k: None)
    if cfg.parallelism.cpu_offload and (device.type != "cuda" or cfg.parallelism.dp_shard != "fsdp"):
        raise UsageError(
            "training.parallelism.cpu_offload keeps FSDP shards in CPU memory between their uses on a "
            "GPU: it needs dp_shard: fsdp and a cuda device; set it to false here"
        )
    bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    summary = Path(data, SUMMARY)
    if not summary.exists():
        raise UsageError(f"--data {data}: no {SUMMARY}; make the token files with `sieve tokenize`")
    vocab_size = json.loads(summary.read_text())["vocab_size"]
    try:
        model_cfg = model_config(cfg.preset, vocab_size, cfg.seq_len)
    except ValueError as e:
        raise UsageError(f"training.preset: {e}") from None
    seq_len = model_cfg.max_seq_len
    try:
        pp, dp, tp = mesh_shape(world, cfg.parallelism, model_cfg)
    except ValueError as e:
        raise UsageError(f"training.parallelism: {e}") from None
    per_rank = cfg.global_batch_size // dp  # samples per step of a data-parallel rank, shared by its tp and pp peers
    if cfg.global_batch_size % (cfg.micro_batch_size * dp):
        raise UsageError(
            f"training.global_batch_size {cfg.global_batch_size} is not a multiple of "
            f"micro_batch_size {cfg.micro_batch_size} x dp {dp} (= {world} processes / "
            f"(tp {tp} x pp {pp}))"
        )
    accumulation = per_rank // cfg.micro_batch_size
    microbatches = cfg.parallelism.pp_microbatches or accumulation
    if pp > 1 and per_rank % microbatches:
        raise UsageError(
            f"training.parallelism.pp_microbatches {microbatches} does not divide the {per_rank} "
            f"samples per step of each data-parallel rank"
        )
    train_samples = open_samples(data, cfg, seq_len, "train")
    if not train_samples:
        raise UsageError("training.datasets: every weight is 0; give at least one language a positive weight")
    val_samples = open_samples(data, cfg, seq_len, "validation")

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = GPT(model_cfg).to(device)
    flops_per_token = model.num_flops_per_token(seq_len)
    say(
        f"model {cfg.preset}: {model.num_params() / 1e6:.2f}M parameters, {model_cfg.n_layers} layers, dim "
        f"{model_cfg.dim}, vocab {vocab_size}, seq_len {seq_len}; {world} x {device.type} process(es), "
        f"{cfg.parallelism.dp_shard} (pp {pp} x dp {dp} x tp {tp}), {'bf16' if bf16 else 'fp32'}, "
        + (
            f"{microbatches} pipeline micro-batches of {per_rank // microbatches}"
            if pp > 1
            else f"{accumulation} micro-batch(es) of {cfg.micro_batch_size}"
        )
        + " per step",
        flush=True,
    )
    mesh = build_mesh(device, (pp, dp, tp))
    dp_rank = mesh["dp"].get_local_rank()
    if pp > 1:
        model = split_stage(model, mesh["pp"].get_local_rank(), pp)
    model = parallelize(model, mesh, cfg)
    pipeline = Pipeline(model, mesh, device, microbatches) if pp > 1 else None
    optimizer = build_optimizer(model, cfg)

    os.makedirs(output, exist_ok=True)
    step, samples = 0, 0
    checkpoint = latest_checkpoint(output)
    if checkpoint is not None:
        progress = load_checkpoint(checkpoint, model, optimizer)
        step, samples = progress["step"], progress["samples"]
        say(f"resuming from {checkpoint} (step {step}, {samples} samples read)", flush=True)
    metrics_path = Path(output, METRICS)
    if rank == 0:
        _keep_metrics_until(metrics_path, step)
        Path(output, "run.json").write_text(
            json.dumps(
                {
                    "training": cfg.model_dump(mode="json"),
                    "model": asdict(model_cfg),
                    "world_size": world,
                    "data": os.path.abspath(data),
                },
                indent=2,
            )
            + "\n"
        )
    weights = [cfg.datasets[lang] for lang in train_samples]
    blend = BlendedSamples(list(train_samples.values()), weights, samples + (cfg.steps - step) * cfg.global_batch_size)

    lines: list[dict[str, Any]] = []
    tokens_per_step = cfg.global_batch_size * seq_len
    interval_time, interval_steps, run_start, first_step = 0.0, 0, time.perf_counter(), step
    # A bar on a terminal; elsewhere no lines of its own: the step lines below are the log (loss, rate, ETA).
    progress = Progress("training", cfg.steps, "steps", done=step, every_seconds=math.inf, show=rank == 0)
    model.train()
    while step < cfg.steps:
        started = time.perf_counter()
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)  # the step's mean loss (pipeline: on the last stage only)
        if pipeline:  # the schedule runs this rank's samples through the stages in micro-batches, backward included
            start = samples + dp_rank * per_rank
            with autocast:
                loss = pipeline.step(_tokens([blend[i] for i in range(start, start + per_rank)], device))
            if loss is not None:
                loss_sum += loss
            pipeline.sync_tied_gradients()
        else:
            for m in range(accumulation):
                start = samples + dp_rank * per_rank + m * cfg.micro_batch_size
                tokens = _tokens([blend[i] for i in range(start, start + cfg.micro_batch_size)], device)
                set_gradient_sync(model, m == accumulation - 1)
                with autocast:
                    logits = model(tokens[:, :-1])
                loss = loss_fn(logits, tokens[:, 1:]) / accumulation  # the step's gradient: the mean over its samples
                loss.backward()
                loss_sum += loss.detach()
        grad_norm = clip_gradients(model, cfg.grad_clip, pipeline)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step, samples = step + 1, samples + cfg.global_batch_size
        interval_time += time.perf_counter() - started
        interval_steps += 1
        progress.advance(1)

        last = step == cfg.steps
        if step % cfg.log_interval == 0 or last:
            dist.all_reduce(loss_sum)  # dp x tp processes hold the loss (with a pipeline, those of its last stage)
            tokens_per_s = interval_steps * tokens_per_step / interval_time
            line = {
                "step": step,
                "loss": loss_sum.item() / (dp * tp),
                "lr": lr,
                "grad_norm": grad_norm.item(),
                "tokens_per_s": tokens_per_s,
                "mfu": flops_per_token * tokens_per_s / (cfg.peak_flops * world),
            }
            if step % cfg.eval_interval == 0 or last:
                val = evaluate(model, pipeline, val_samples, cfg, autocast, dp_rank, dp, device)
                if val:
                    line["val_loss"] = sum(cfg.datasets[lang] * v for lang, v in val.items()) / sum(
                        cfg.datasets[lang] for lang in val
                    )
                    line.update({f"val_loss_{lang}": v for lang, v in val.items()})
            eta = (time.perf_counter() - run_start) / (step - first_step) * (cfg.steps - step)
            say(
                f"step {step}/{cfg.steps} loss {line['loss']:.4f}"
                + (f" val {line['val_loss']:.4f}" if "val_loss" in line else "")
                + f" lr {lr:.2e} {tokens_per_s:,.0f} tok/s mfu {line['mfu']:.2%} eta {eta:.0f} s",
                flush=True,
            )
            progress.update(step, f"loss {line['loss']:.4f}")
            if rank == 0:
                with metrics_path.open("a") as f:
                    f.write(json.dumps(line) + "\n")
            lines.append(line)
            interval_time, interval_steps = 0.0, 0
        if step % cfg.checkpoint_interval == 0 or last:
            path = save_checkpoint(output, step, samples, model, optimizer)
            say(f"checkpoint {path}", flush=True)
    progress.close()
    elapsed = time.perf_counter() - run_start
    done = step - first_step
    say(
        f"trained {done} steps, {done * tokens_per_step:,} tokens in {elapsed:.1f} s "
        f"({done * tokens_per_step / max(elapsed, 1e-9):,.0f} tok/s with logging, validation and checkpoints); "
        f"metrics: {metrics_path}",
        flush=True,
    )
    return lines


def _keep_metrics_until(path: Path, step: int) -> None:
    """Drop metrics lines after the resumed step (a killed run logged steps that will be trained again)."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in kept))

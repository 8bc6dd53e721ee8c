"""Training checkpoints with torch.distributed.checkpoint (DCP): every process writes its own shards in parallel.

OUTPUT/checkpoints/step-NNNNNN holds the model, the optimizer, the step and data position (the global sample
counter: the learning rate and the data order are functions of them) and each process's RNG state.
OUTPUT/checkpoints/latest names the newest complete one; it is written last and atomically, so a run killed
mid-save resumes from the previous checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

CHECKPOINTS = "checkpoints"
LATEST = "latest"
# Optimizer state and param-group settings keyed by parameter name, not by group index: the stages of a pipeline
# own different parameters, and index-keyed groups from two stages would collide in one checkpoint.
OPTIONS = StateDictOptions(flatten_optimizer_state_dict=True)


def _rng_key() -> str:
    return f"rank{dist.get_rank()}"


def _rng_states() -> dict[str, torch.Tensor]:
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def save_checkpoint(output: str, step: int, samples: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> Path:
    """Write step-NNNNNN from every process, then point `latest` at it; returns its folder."""
    path = Path(output, CHECKPOINTS, f"step-{step:06d}")
    model_state, optimizer_state = get_state_dict(model, optimizer, options=OPTIONS)
    state = {
        "model": model_state,
        "optimizer": optimizer_state,
        "progress": {"step": step, "samples": samples},
        "rng": {_rng_key(): _rng_states()},
    }
    dcp.save(state, checkpoint_id=str(path))
    dist.barrier()  # every process's shards are on disk before `latest` may name them
    if dist.get_rank() == 0:
        tmp = path.parent / f".{LATEST}.tmp"
        tmp.write_text(path.name + "\n")
        os.replace(tmp, path.parent / LATEST)
    return path


def latest_checkpoint(output: str) -> Path | None:
    """The folder `latest` names, or None when the output has no checkpoint yet."""
    pointer = Path(output, CHECKPOINTS, LATEST)
    return pointer.parent / pointer.read_text().strip() if pointer.exists() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Restore model, optimizer and this process's RNG state in place; returns {"step", "samples"}."""
    model_state, optimizer_state = get_state_dict(model, optimizer, options=OPTIONS)
    state: dict[str, Any] = {
        "model": model_state,
        "optimizer": optimizer_state,
        "progress": {"step": 0, "samples": 0},
        "rng": {_rng_key(): _rng_states()},
    }
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"], options=OPTIONS
    )
    rng = state["rng"][_rng_key()]
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"])
    return state["progress"]

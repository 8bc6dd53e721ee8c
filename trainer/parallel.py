"""Parallelism applied to a plain GPT from outside (torchtitan's shape): the device mesh and one `parallelize`.

The processes form a pp x dp x tp mesh. Tensor parallel (tp) splits each block's attention heads and MLP width;
activation checkpointing wraps each block; data parallel (dp) is DDP (a full replica per process) or FSDP2
`fully_shard` (ZeRO-3: parameters, gradients and optimizer state sharded). Pipeline parallel (pp) splits the layers
into stages before this runs (trainer/pipeline.py); `parallelize` then wraps one stage's model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, fully_shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
from torch.nn.parallel import DistributedDataParallel

from sieve.schemas.config import ParallelismConfig, TrainingConfig
from sieve.trainer.model import GPT, ModelConfig

# Megatron's split: q, k, v and w1, w3 by output columns (each process gets whole heads, part of the MLP width),
# wo and w2 by input rows, whose partial sums are all-reduced; the block's input and output stay replicated.
BLOCK_PLAN = {
    "attention.wq": ColwiseParallel(),
    "attention.wk": ColwiseParallel(),
    "attention.wv": ColwiseParallel(),
    "attention.wo": RowwiseParallel(),
    "feed_forward.w1": ColwiseParallel(),
    "feed_forward.w3": ColwiseParallel(),
    "feed_forward.w2": RowwiseParallel(),
}


def mesh_shape(world_size: int, parallelism: ParallelismConfig, model_cfg: ModelConfig) -> tuple[int, int, int]:
    """(pp, dp, tp) for this many processes; ValueError naming the numbers when they do not fit."""
    tp, pp = parallelism.tp, parallelism.pp
    if world_size % (tp * pp):
        raise ValueError(
            f"{world_size} processes are not a multiple of tp {tp} x pp {pp} = {tp * pp}: "
            f"dp = processes / (tp * pp) must be a whole number"
        )
    if model_cfg.n_heads % tp or model_cfg.ffn_hidden % tp:
        raise ValueError(
            f"tp {tp} must divide the model's {model_cfg.n_heads} heads and its MLP width {model_cfg.ffn_hidden}"
        )
    if pp > model_cfg.n_layers:
        raise ValueError(f"pp {pp} stages for {model_cfg.n_layers} layers: each stage needs at least one layer")
    if tp > 1 and parallelism.dp_shard == "ddp":
        raise ValueError("tp > 1 needs dp_shard: fsdp (DDP does not take tensor-parallel DTensor parameters)")
    return pp, world_size // (tp * pp), tp


def build_mesh(device: torch.device, shape: tuple[int, int, int]) -> DeviceMesh:
    """The (pp, dp, tp) mesh, tp innermost so a tensor-parallel group is the closest processes (one node's GPUs)."""
    return init_device_mesh(device.type, shape, mesh_dim_names=("pp", "dp", "tp"))


def parallelize(model: GPT, mesh: DeviceMesh, cfg: TrainingConfig) -> nn.Module:
    """Tensor parallel over "tp", then activation checkpointing per block, then DDP or FSDP2 over "dp".

    Embeddings, norms and the output layer are replicated across tp (not split), so the tied embedding stays one
    Parameter and FSDP shards it once."""
    if mesh["tp"].size() > 1:
        for block in model.layers.values():
            parallelize_module(block, mesh["tp"], BLOCK_PLAN)  # Linear weights become DTensors sharded on "tp"
    if cfg.activation_checkpointing:
        for name, block in model.layers.items():
            model.layers[name] = checkpoint_wrapper(block)  # state_dict keys keep their plain names
    if cfg.parallelism.dp_shard == "ddp":
        device_ids = [torch.cuda.current_device()] if mesh.device_type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, process_group=mesh.get_group("dp"))
    offload = {"offload_policy": CPUOffloadPolicy()} if cfg.parallelism.cpu_offload else {}
    for block in model.layers.values():  # one unit per block: a block's parameters are gathered only while it runs
        fully_shard(block, mesh=mesh["dp"], **offload)
    return fully_shard(model, mesh=mesh["dp"], **offload)  # the rest: embeddings (tied to output), final norm


def set_gradient_sync(model: nn.Module, enabled: bool) -> None:
    """Skip the gradient all-reduce / reduce-scatter on all but the last micro-batch of an accumulated step."""
    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(enabled)
    elif isinstance(model, DistributedDataParallel):
        model.require_backward_grad_sync = enabled

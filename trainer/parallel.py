"""Parallelism applied to a plain GPT from outside (torchtitan's shape): the device mesh and one `parallelize`.

Data parallel only for now: DDP (a full replica per process) or FSDP2 `fully_shard` (ZeRO-3: parameters, gradients
and optimizer state sharded), with optional activation checkpointing. The mesh is 1-D ("dp").
"""
from __future__ import annotations

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, fully_shard
from torch.nn.parallel import DistributedDataParallel

from sieve.schemas.config import TrainingConfig
from sieve.trainer.model import GPT


def build_mesh(device: torch.device, world_size: int) -> DeviceMesh:
    """A 1-D mesh of every process along the data-parallel dimension "dp"."""
    return init_device_mesh(device.type, (world_size,), mesh_dim_names=("dp",))


def parallelize(model: GPT, mesh: DeviceMesh, cfg: TrainingConfig) -> nn.Module:
    """Activation checkpointing per block, then DDP or FSDP2 over the mesh's "dp" dimension."""
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

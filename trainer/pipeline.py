"""Pipeline parallel (torch.distributed.pipelining): a GPT cut into stages by layers, run by a GPipe schedule.

Each process of the mesh's "pp" dimension builds the whole model with the same seed, then keeps only its stage
(torchtitan's way): the first stage owns tok_embeddings, the last owns norm and output, the layers are split into
contiguous runs. The schedule feeds a step's samples through the stages in micro-batches; the loss exists only
on the last stage.

The tied embedding: after the split, the first stage's tok_embeddings.weight and the last stage's output.weight are
two copies of one initial matrix on different processes. Untying them (torchtitan) would train a different model
from the one-process run; instead their gradients are summed across the two stages after each backward
(Megatron's embedding group), so both copies receive the tied gradient and the same AdamW updates and stay
equal, and the gradient norm counts the matrix once (on the first stage).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.pipelining import PipelineStage, ScheduleGPipe
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from sieve.trainer.model import GPT, loss_fn


def split_stage(model: GPT, stage: int, stages: int) -> GPT:
    """Keep in place only what stage `stage` of `stages` owns: its contiguous run of layers, the embedding on the
    first stage, the final norm and output on the last."""
    n = len(model.layers)
    owned = {str(i) for i in range(stage * n // stages, (stage + 1) * n // stages)}
    for name in [name for name in model.layers if name not in owned]:
        del model.layers[name]
    if stage > 0:
        model.tok_embeddings = None
    if stage < stages - 1:
        model.norm, model.output = None, None
    return model


def _tie_group(mesh: DeviceMesh) -> dist.ProcessGroup | None:
    """This process's group of {first stage, last stage} at the same (dp, tp) position, or None in a middle stage.
    Every process creates every group, in the same order (new_group requires it)."""
    ranks, mine = mesh.mesh, None
    for first, last in zip(ranks[0].flatten().tolist(), ranks[-1].flatten().tolist()):
        group = dist.new_group([first, last])
        if dist.get_rank() in (first, last):
            mine = group
    return mine


class Pipeline:
    """One process's stage of the pipeline: the GPipe schedule over its (parallelized) stage model."""

    def __init__(self, model: nn.Module, mesh: DeviceMesh, device: torch.device, microbatches: int) -> None:
        pp = mesh["pp"]
        self.group = pp.get_group()
        stage, stages = pp.get_local_rank(), pp.size()
        self.is_first, self.is_last = stage == 0, stage == stages - 1
        self.schedule = ScheduleGPipe(
            PipelineStage(model, stage, stages, device, group=self.group), microbatches, loss_fn=loss_fn
        )  # grads scaled by 1 / microbatches
        gpt = model.module if isinstance(model, DistributedDataParallel) else model
        self.tied = gpt.tok_embeddings.weight if self.is_first else gpt.output.weight if self.is_last else None
        self.tie_group = _tie_group(mesh)

    def _run(self, run, tokens: torch.Tensor) -> torch.Tensor | None:
        losses: list[torch.Tensor] = []
        inputs = (tokens[:, :-1].contiguous(),) if self.is_first else ()
        run(*inputs, target=tokens[:, 1:].contiguous(), losses=losses)
        return torch.stack(losses).mean().detach() if self.is_last else None

    def step(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """Forward and backward of a step's samples (batch, seq + 1); the mean loss on the last stage, else None."""
        return self._run(self.schedule.step, tokens)

    @torch.no_grad()
    def eval(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """Forward only: the mean loss on the last stage, else None."""
        return self._run(self.schedule.eval, tokens)

    @torch.no_grad()
    def sync_tied_gradients(self) -> None:
        """Sum the embedding's gradient with the output layer's across the first and last stages."""
        if self.tied is None or self.tied.grad is None:
            return
        grad = self.tied.grad
        dist.all_reduce(grad.to_local() if isinstance(grad, DTensor) else grad, group=self.tie_group)

    def counted_in_norm(self, params: list[nn.Parameter]) -> list[nn.Parameter]:
        """The parameters whose gradients count in the global norm: the last stage's copy of the tie is left out."""
        return [p for p in params if self.is_first or p is not self.tied]

"""Several processes training one model, under PyTorch's own launcher:

    torchrun --nproc_per_node N -m ganforge train ...     (add --nnodes/--rdzv_* across machines)

Rank and world size come from torchrun's environment; NCCL on CUDA, gloo on the CPU. Every rank
holds the same G and D; each trains on its shard of every global batch, and gradients are
averaged across ranks (one all-reduce per model per optimizer step) before the optimizer steps,
so the replicas stay identical. This is DistributedDataParallel's arithmetic done by hand: a GAN
step runs D several times per backward (real, fake, gradient penalties), which DDP's reducer
does not support. One process: every method below is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the only one that writes the run folder and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of `tensor` over all ranks (a new tensor)."""
        if not self.active:
            return tensor
        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is true on any (a stop request, a deadline)."""
        if not self.active:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def average_gradients(self, module: nn.Module) -> None:
        """Replace every gradient of `module` by its mean over the ranks, in one all-reduce."""
        if not self.active:
            return
        grads = [parameter.grad for parameter in module.parameters() if parameter.grad is not None]
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def barrier(self) -> None:
        """Wait until every rank gets here (rank 0 may still be writing a checkpoint)."""
        if self.active:
            dist.barrier()

    def broadcast(self, value):
        """Rank 0's `value` on every rank (any picklable object)."""
        if not self.active:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]


ONE_PROCESS = Ranks()


def ranks_from_environment() -> Ranks:
    """torchrun's RANK / WORLD_SIZE / LOCAL_RANK; one process when they are absent."""
    return Ranks(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def start(ranks: Ranks, device_type: str) -> None:
    if ranks.active and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

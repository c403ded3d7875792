"""All of ganforge's speed work, and nothing else. Models are plain `torch.nn`; the training set-up
calls `accelerate` once, export calls `plain`, and the step calls the two functions below. Each
operation decides for itself whether its fast kernel can run (device, dtype, tracing, compiler
present) and otherwise runs PyTorch's own, with the same results up to rounding.

    cpu/       conv (oneDNN or a matrix product, pass by pass), winograd (Toom-Cook), layers
               (the swaps), kernels.py + kernels.cpp (fused C++ kernels, built on first use)
    cuda_graph.py   the whole step captured as one CUDA graph
    host_memory.py  glibc keeps freed memory for the next step
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.ops.cpu import kernels
from ganforge.ops.cpu.layers import (
    batch_norm_groups,
    fuse_batch_norm_activations,
    joins_batches,
    with_fast_convolutions,
    with_plain_layers,
)


def accelerate(model: nn.Module, device: torch.device, fuse_batch_norm: bool = True) -> nn.Module:
    """Every layer swap, in place, once at set-up (parameters and state-dict keys unchanged). On a
    CPU: convolutions choose oneDNN, a matrix product or Toom-Cook transforms pass by pass, and
    with `fuse_batch_norm` each training BatchNorm runs with its activation as one kernel (not
    for a model differentiated twice, as under a gradient penalty, nor under torch.compile,
    which cannot trace the kernels). Elsewhere PyTorch's layers are already the fast ones."""
    if device.type == "cpu":
        with_fast_convolutions(model)
        if fuse_batch_norm:
            fuse_batch_norm_activations(model)
    return model


def plain(model: nn.Module) -> nn.Module:
    """Undo `accelerate`, in place: PyTorch's own layers (what export traces, and the reference
    every fast path is tested against)."""
    return with_plain_layers(model)


def gradient_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all of `module`'s gradients together: one fused pass where the kernel takes
    them, else PyTorch's norm of norms."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if kernels.takes_norm(grads):
        return torch.ops.ganforge.total_norm(grads)
    return torch.nn.utils.get_total_norm(grads)


def discriminate_pair(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                      labels: torch.Tensor | None, joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits for a real and a fake batch: one call on both stacked (fewer, larger kernels),
    each half normalised by its own BatchNorm statistics, when `joint` and the shapes allow;
    else two calls. The same function either way."""
    if joint and real.shape == fake.shape:
        both_labels = None if labels is None else torch.cat([labels, labels])
        with batch_norm_groups(discriminator, 2):
            both = discriminator(torch.cat([real, fake]), both_labels)
        real_logits, fake_logits = both.chunk(2)
        return real_logits, fake_logits
    return discriminator(real, labels), discriminator(fake, labels)


__all__ = ["accelerate", "discriminate_pair", "gradient_norm", "joins_batches", "plain"]

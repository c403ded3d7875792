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


def to_channels_last(model: nn.Module, *example_inputs: torch.Tensor | None) -> nn.Module:
    """NHWC memory for `model`, in place. A 1x1 input (G's first layer, from z) is NCHW and NHWC
    at once, and PyTorch reads its strides as NCHW: beside NHWC weights, cuDNN then returned a
    weight gradient in another layout than torch.compile predicted, and the next layer's input
    was converted. Convolutions that take 1x1 inputs (found by one eval-mode forward pass of
    `example_inputs`: no statistics move, no random numbers drawn) get them with NHWC strides."""
    model.to(memory_format=torch.channels_last)
    convolutions = [module for module in model.modules()
                    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))]
    one_by_one: set[nn.Module] = set()
    probes = [module.register_forward_pre_hook(
        lambda module, inputs: one_by_one.add(module) if inputs[0].shape[-2:] == (1, 1) else None)
        for module in convolutions]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(*example_inputs)
    finally:
        for probe in probes:
            probe.remove()
        model.train(training)
    for module in one_by_one:
        module.register_forward_pre_hook(_nhwc_strides)
    return model


def _nhwc_strides(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """(N, C, 1, 1) images as a view with NHWC strides (C, 1, C, C): the same values."""
    images, *rest = inputs
    batch, channels, height, width = images.shape
    if (height, width) != (1, 1):
        return inputs
    return (images.reshape(batch, 1, 1, channels).permute(0, 3, 1, 2), *rest)


def plain(model: nn.Module) -> nn.Module:
    """Undo `accelerate`, in place: PyTorch's own layers (what export traces, and the reference
    every fast path is tested against)."""
    return with_plain_layers(model)


def gradient_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all of `module`'s gradients together: one fused pass where the kernel takes
    them, else PyTorch's norm of norms. A stack of runs (a module with `runs`, its parameters
    stacked along the first dimension) gets one norm per run."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if getattr(module, "runs", 0):
        return torch.stack([grad.flatten(1).float().square().sum(1) for grad in grads]).sum(0).sqrt()
    if kernels.takes_norm(grads):
        return torch.ops.ganforge.total_norm(grads)
    return torch.nn.utils.get_total_norm(grads)


def discriminate_pair(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                      labels: torch.Tensor | None, joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits for a real and a fake batch: one call on both stacked (fewer, larger kernels),
    each half normalised by its own BatchNorm statistics, when `joint` and the shapes allow;
    else two calls. The same function either way."""
    if joint and real.shape == fake.shape:
        # (a stack of runs, training.together.StackedModule, takes (runs, batch, ...) through the
        # architecture it holds)
        batch = 1 if getattr(discriminator, "runs", 0) else 0
        both_labels = None if labels is None else torch.cat([labels, labels], batch)
        with batch_norm_groups(getattr(discriminator, "architecture", discriminator), 2):
            both = discriminator(torch.cat([real, fake], batch), both_labels)
        real_logits, fake_logits = both.chunk(2, batch)
        return real_logits, fake_logits
    return discriminator(real, labels), discriminator(fake, labels)


__all__ = ["accelerate", "discriminate_pair", "gradient_norm", "joins_batches", "plain", "to_channels_last"]

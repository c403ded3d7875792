"""Fused CPU kernels (`kernels.cpp`), compiled on first use, for passes PyTorch runs as
several sweeps over memory: BatchNorm with the activation after it, a spread's matrix product
with its col2im, a weight gradient's im2col with its product, and the Toom-Cook layer's
transforms.

On this project's 2-core CPU a GAN step is bound by memory traffic as much as by arithmetic.
Training-mode BatchNorm followed by ReLU takes six or seven sweeps over the activations forward
and back (statistics, normalisation, activation; activation gradient, two for BatchNorm's) plus
small ops for the running statistics; fused, four, and the activation's output is not kept for
the backward pass. col2im reads each column once and writes each output pixel once instead of adding
k row and k column slices. The spread and the weight gradient work a few images at a time, so the
columns or im2col rows between copy and product stay in the cache instead of travelling to
memory and back. The transforms read and write channels_last images in place instead of copying
them into planes first.

The kernels are compiled by PyTorch's `cpp_extension` (a C++ compiler and ninja; once per
machine, cached under ~/.cache/torch_extensions). Where that fails, `available()` is
False and every caller keeps PyTorch's own operations: same results up to rounding, only slower.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

SOURCE = Path(__file__).with_name("kernels.cpp")
log = logging.getLogger(__name__)


@functools.cache
def available() -> bool:
    """Compile (once per machine) and load the kernels; False where that is not possible."""
    capability = torch.backends.cpu.get_cpu_capability()
    vector_flags = ["-mavx2", "-mfma"] if capability in ("AVX2", "AVX512") else []
    # PyTorch logs a warning about CUDA when cpp_extension is imported on a CPU-only machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    # ninja from PyPI lands next to this Python, which need not be on PATH (an unactivated venv).
    bundled_ninja = Path(sys.executable).with_name("ninja")
    if shutil.which("ninja") is None and bundled_ninja.exists():
        os.environ["PATH"] = os.pathsep.join([str(bundled_ninja.parent), os.environ.get("PATH", "")])
    name = f"ganforge_cpu_kernels_{capability.lower()}"
    try:
        from torch.utils import cpp_extension

        built = Path(cpp_extension._get_build_directory(name, verbose=False)) / f"{name}.so"
        if not built.exists():  # a pause of its own on a machine's first run: say why
            print("ganforge: building the fused CPU kernels (once per machine, about 15 s)",
                  file=sys.stderr)
        cpp_extension.load(name=name, sources=[str(SOURCE)],
                           extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off",
                                         "-fno-trapping-math", *vector_flags],
                           is_python_module=False, verbose=False)
    except Exception as error:  # no compiler, no ninja, a read-only cache: PyTorch's ops serve
        log.warning("ganforge: fused CPU kernels unavailable (%s); using PyTorch's operations",
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
        return False
    return True


def serves(tensor: torch.Tensor) -> bool:
    """Whether the kernels can take `tensor`: float32 on the CPU, outside torch.compile's tracing
    (they have no tracing rules), and built."""
    return (not torch.compiler.is_compiling() and tensor.device.type == "cpu"
            and tensor.dtype == torch.float32 and available())


def rows_of(images: torch.Tensor) -> bool:
    """Whether `images` is a matrix of pixel rows the kernels read in place: (N, C, H, W)
    channels_last."""
    return images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last)


def takes_norm(grads: list[torch.Tensor]) -> bool:
    """Whether `total_norm` reads these gradients in place (dense float32 CPU tensors, plain or
    channels_last): one call and one pass instead of a norm per tensor and a norm of the norms."""
    return bool(grads) and all(
        serves(grad) and (grad.is_contiguous() or grad.is_contiguous(memory_format=torch.channels_last))
        for grad in grads)


class BatchNormActivation(torch.autograd.Function):
    """Training-mode BatchNorm (batch statistics, biased variance) then a leaky ReLU of
    `slope` (0: ReLU), updating `norm`'s running statistics as nn.BatchNorm does; `groups` equal
    blocks of the batch each normalised by their own statistics, as separate calls would."""

    @staticmethod
    def forward(ctx, images, weight, bias, norm, slope, groups):
        # momentum None (a cumulative average) goes to the kernel as -1.
        momentum = -1.0 if norm.momentum is None else norm.momentum
        out, mean, invstd = torch.ops.ganforge.batch_norm_act_forward(
            images, weight, bias, norm.running_mean, norm.running_var, norm.num_batches_tracked,
            momentum, norm.eps, slope, groups)
        ctx.save_for_backward(images, weight, bias, mean, invstd)
        ctx.slope = slope
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        images, weight, bias, mean, invstd = ctx.saved_tensors
        grad_in, grad_weight, grad_bias = torch.ops.ganforge.batch_norm_act_backward(
            grad_out.contiguous(memory_format=torch.channels_last), images, weight, bias, mean,
            invstd, ctx.slope)
        return grad_in, grad_weight, grad_bias, None, None, None


# Images per block in `spread` and `weight_gradient`: their columns or im2col rows stay in a
# core's L2 (sizes in docs/performance.md).
BLOCK_IMAGES = 8


# kernels.cpp's vector width in channels: a spread's column count k*k*C_out must be a multiple
# of it, unless C_out is below it (the few-channel scatter reads either layout).
VECTOR_CHANNELS = 8


def spreads(out_channels: int, kernel: int) -> bool:
    """Whether `spread` takes an output of `out_channels` channels and a k x k kernel."""
    return (kernel * kernel * out_channels) % VECTOR_CHANNELS == 0 or out_channels < VECTOR_CHANNELS


def spread(rows: torch.Tensor, matrix: torch.Tensor, batch: int, height: int, width: int,
           kernel: int, stride: int, out_height: int, out_width: int) -> torch.Tensor:
    """conv.col2im(rows @ matrix^T) for `rows` (N*h*w, C_in) and `matrix` (k*k*C_out, C_in),
    a few images at a time, so the columns never leave the cache; col2im reads every column once
    and writes every pixel once."""
    return torch.ops.ganforge.spread(rows, matrix, batch, height, width, kernel, stride,
                                     out_height, out_width, BLOCK_IMAGES)


def weight_gradient(larger: torch.Tensor, smaller: torch.Tensor, kernel: int,
                    stride: int) -> torch.Tensor:
    """im2col(larger)^T @ smaller's pixel rows, (k*k*C_larger, C_smaller), for channels_last
    `larger` and `smaller` (`rows_of`), a few images at a time so the im2col rows never leave the
    cache."""
    return torch.ops.ganforge.weight_gradient(larger, smaller, kernel, stride, BLOCK_IMAGES)

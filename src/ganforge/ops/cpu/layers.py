"""Layers with faster CPU paths, same parameters and state dict as PyTorch's.

On the CPU, unpadded, ungrouped, square Conv2d and ConvTranspose2d choose oneDNN's kernel or a
matrix product pass by pass (`conv`); stride-1 transposed convolutions of small inputs run by
Toom-Cook transforms (`winograd`). `fuse_batch_norm_activations` makes a training BatchNorm and
the ReLU or LeakyReLU after it one fused kernel (`kernels`). Everything else, and every GPU,
uses PyTorch's own kernels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganforge.ops.cpu import kernels, winograd
from ganforge.ops.cpu.conv import Convolution


def _has_fast_path(layer: nn.Module, images: torch.Tensor) -> bool:
    # Under CPU autocast (bf16) PyTorch's kernels choose the precision of each product.
    return (images.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
            and images.dim() == 4 and layer.groups == 1
            and layer.padding == (0, 0) and layer.dilation == (1, 1)
            and layer.stride[0] == layer.stride[1] and layer.kernel_size[0] == layer.kernel_size[1]
            and getattr(layer, "output_padding", (0, 0)) == (0, 0))


def _add_bias(out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class Conv2d(nn.Conv2d):
    """nn.Conv2d with the CPU fast path (oneDNN or a matrix product, pass by pass)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if _has_fast_path(self, images):
            return _add_bias(Convolution.apply(images, self.weight, self.stride[0], False), self.bias)
        return super().forward(images)


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with the Toom-Cook or the per-pass CPU fast path."""

    def forward(self, images: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None or not _has_fast_path(self, images):
            return super().forward(images, output_size)
        if self.stride[0] == 1 and winograd.applies(images.shape[2], images.shape[3],
                                                    self.kernel_size[0]):
            out = winograd.ConvTransposeWinograd.apply(images, self.weight)
        else:
            out = Convolution.apply(images, self.weight, self.stride[0], True)
        return _add_bias(out, self.bias)


class _BatchNormActivation:
    """A BatchNorm that also applies the activation which followed it (a leaky ReLU of
    `negative_slope`, 0 for ReLU); in training on the CPU, as one fused kernel. Inside
    `batch_norm_groups(model, k)` the batch is k equal blocks, each normalised by its own
    statistics, exactly as k separate calls."""

    negative_slope: float
    groups = 1

    def _fused(self, images: torch.Tensor) -> bool:
        return (self.training and not torch.is_autocast_enabled("cpu")
                and images.numel() > images.shape[1] and kernels.rows_of(images)
                and kernels.serves(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self._fused(images):
            return kernels.BatchNormActivation.apply(images, self.weight, self.bias, self,
                                                         self.negative_slope, self.groups)
        blocks = []
        for block in images.chunk(self.groups):
            blocks.append(F.leaky_relu(super().forward(block), self.negative_slope, inplace=True))
        return blocks[0] if self.groups == 1 else torch.cat(blocks)


class BatchNorm2dActivation(_BatchNormActivation, nn.BatchNorm2d):
    pass


# The fully connected models' BatchNorm1d stays PyTorch's: at their sizes a fused call saves nothing.
_FUSED = {nn.BatchNorm2d: BatchNorm2dActivation}
_PLAIN = {fused: plain for plain, fused in _FUSED.items()}


def fuse_batch_norm_activations(model: nn.Module) -> nn.Module:
    """Every BatchNorm directly followed by a ReLU or LeakyReLU in an nn.Sequential takes the
    activation over, whose place an Identity holds: parameters, buffers and state-dict keys stay
    as they were. Fused backward passes are not differentiable again, so a model under a
    gradient penalty keeps its layers."""
    for sequential in [module for module in model.modules() if isinstance(module, nn.Sequential)]:
        for index in range(len(sequential) - 1):
            norm, activation = sequential[index], sequential[index + 1]
            if (type(norm) in _FUSED and norm.affine and norm.track_running_stats
                    and type(activation) in (nn.ReLU, nn.LeakyReLU)):
                norm.__class__ = _FUSED[type(norm)]
                norm.negative_slope = getattr(activation, "negative_slope", 0.0)
                sequential[index + 1] = nn.Identity()
    return model


def joins_batches(model: nn.Module) -> bool:
    """Whether `batch_norm_groups` makes one call of `model` on k stacked batches compute what k
    calls do: every BatchNorm fused (so it keeps per-block statistics) and no spectral norm
    (whose power iteration steps once per call)."""
    return not any((isinstance(module, nn.modules.batchnorm._BatchNorm)
                    and not isinstance(module, _BatchNormActivation))
                   or parametrize.is_parametrized(module)
                   for module in model.modules())


@contextlib.contextmanager
def batch_norm_groups(model: nn.Module, groups: int) -> Iterator[None]:
    """Within: `model`'s fused BatchNorms normalise `groups` equal blocks of a batch apart."""
    norms = [module for module in model.modules() if isinstance(module, _BatchNormActivation)]
    for norm in norms:
        norm.groups = groups
    try:
        yield
    finally:
        for norm in norms:
            del norm.groups


_FAST_CONVOLUTIONS = {nn.Conv2d: Conv2d, nn.ConvTranspose2d: ConvTranspose2d}
_PLAIN_CONVOLUTIONS = {fast: plain for plain, fast in _FAST_CONVOLUTIONS.items()}


def _own_class(module: nn.Module) -> type:
    """The layer class a module runs: its class, or for a parametrized one (spectral norm) the
    class torch's parametrization derived its own from."""
    if parametrize.is_parametrized(module):
        return type(module).__bases__[0]
    return type(module)


def _set_class(module: nn.Module, layer_class: type) -> None:
    """Run `module` as `layer_class` (parameters and state-dict keys unchanged); a parametrized
    module keeps its parametrization, re-based onto the new class."""
    if parametrize.is_parametrized(module):
        type(module).__bases__ = (layer_class,)
    else:
        module.__class__ = layer_class


def with_fast_convolutions(model: nn.Module) -> nn.Module:
    """Every nn.Conv2d and nn.ConvTranspose2d runs the CPU fast paths above."""
    for module in model.modules():
        if _own_class(module) in _FAST_CONVOLUTIONS:
            _set_class(module, _FAST_CONVOLUTIONS[_own_class(module)])
    return model


def with_plain_layers(model: nn.Module) -> nn.Module:
    """The same model (shared parameters) running PyTorch's own kernels: the reference that the
    fast paths are tested and benchmarked against, and what export traces."""
    for sequential in [module for module in model.modules() if isinstance(module, nn.Sequential)]:
        for index, norm in enumerate(sequential):
            if isinstance(norm, _BatchNormActivation):
                slope = norm.negative_slope
                norm.__class__ = _PLAIN[type(norm)]
                sequential[index + 1] = (nn.LeakyReLU(slope, inplace=True) if slope
                                         else nn.ReLU(inplace=True))
    for module in model.modules():
        if _own_class(module) in _PLAIN_CONVOLUTIONS:
            _set_class(module, _PLAIN_CONVOLUTIONS[_own_class(module)])
    return model

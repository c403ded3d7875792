"""Conv2d and ConvTranspose2d with faster CPU paths, same parameters and state dict as PyTorch's.

On the CPU, unpadded, ungrouped, square layers choose oneDNN's kernel or a matrix product pass by
pass (`cpu_conv`); stride-1 transposed convolutions of small inputs run by Toom-Cook transforms
(`winograd`). Everything else, and every GPU, uses PyTorch's own kernels.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models import winograd
from ganforge.models.cpu_conv import Convolution


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


def with_plain_layers(model: nn.Module) -> nn.Module:
    """The same model (shared parameters) running PyTorch's own kernels: the reference that the
    fast paths are tested and benchmarked against, and what export traces."""
    for module in model.modules():
        if isinstance(module, ConvTranspose2d):
            module.__class__ = nn.ConvTranspose2d
        elif isinstance(module, Conv2d):
            module.__class__ = nn.Conv2d
    return model

"""Building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al.): conv weights N(0, 0.02), BatchNorm N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _taps(height: int, width: int, kernel: int, stride: int):
    """Output slices that kernel tap (ki, kj) writes to, for an unpadded transposed conv."""
    span_h, span_w = (height - 1) * stride + 1, (width - 1) * stride + 1
    for ki in range(kernel):
        for kj in range(kernel):
            yield ki, kj, (slice(None), slice(ki, ki + span_h, stride),
                           slice(kj, kj + span_w, stride), slice(None))


class _GemmConvTranspose(torch.autograd.Function):
    """Unpadded, bias-free ConvTranspose2d as one GEMM plus k*k strided adds, in NHWC.

    oneDNN's transposed convolution runs these small DCGAN shapes at 10-60 % of the CPU's GEMM
    speed; a plain matrix product of (pixels x C_in) by (C_in x k*k*C_out) followed by a
    col2im done as k*k slice adds does the same arithmetic at GEMM speed.
    """

    @staticmethod
    def forward(ctx, images, weight, stride):
        batch, in_channels, height, width = images.shape
        _, out_channels, kernel, _ = weight.shape
        rows = images.permute(0, 2, 3, 1).reshape(batch * height * width, in_channels)
        matrix = weight.permute(0, 2, 3, 1).reshape(in_channels, kernel * kernel * out_channels)
        columns = (rows @ matrix).view(batch, height, width, kernel, kernel, out_channels)
        out = images.new_zeros(batch, (height - 1) * stride + kernel,
                               (width - 1) * stride + kernel, out_channels)
        for ki, kj, target in _taps(height, width, kernel, stride):
            out[target] += columns[:, :, :, ki, kj, :]
        ctx.save_for_backward(rows, matrix)
        ctx.geometry = (batch, in_channels, height, width, out_channels, kernel, stride)
        return out.permute(0, 3, 1, 2)  # NCHW shape, channels-last memory

    @staticmethod
    def backward(ctx, grad_out):
        rows, matrix = ctx.saved_tensors
        batch, in_channels, height, width, out_channels, kernel, stride = ctx.geometry
        grad_nhwc = grad_out.permute(0, 2, 3, 1)
        grad_columns = torch.stack(
            [grad_nhwc[target] for _, _, target in _taps(height, width, kernel, stride)], dim=3
        ).reshape(batch * height * width, kernel * kernel * out_channels)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_images = (grad_columns @ matrix.t()).view(batch, height, width, in_channels)
            grad_images = grad_images.permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1]:
            grad_weight = (rows.t() @ grad_columns).view(in_channels, kernel, kernel, out_channels)
            grad_weight = grad_weight.permute(0, 3, 1, 2)
        return grad_images, grad_weight, None


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same parameters and state dict) with a faster CPU path.

    The GEMM path is taken on the CPU for the unpadded, ungrouped case that the DCGAN
    generators use; everything else goes to PyTorch's own kernel.
    """

    def forward(self, images: torch.Tensor, output_size=None) -> torch.Tensor:
        square = self.stride[0] == self.stride[1] and self.kernel_size[0] == self.kernel_size[1]
        unpadded = self.padding == (0, 0) and self.output_padding == (0, 0)
        if (images.device.type == "cpu" and output_size is None and self.groups == 1 and square
                and unpadded and self.dilation == (1, 1) and images.dim() == 4):
            out = _GemmConvTranspose.apply(images, self.weight, self.stride[0])
            return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)
        return super().forward(images, output_size)


def with_plain_layers(model: nn.Module) -> nn.Module:
    """The same model (shared parameters) running PyTorch's own kernels: the reference that the
    fast paths are tested and benchmarked against."""
    for module in model.modules():
        if isinstance(module, ConvTranspose2d):
            module.__class__ = nn.ConvTranspose2d
    return model

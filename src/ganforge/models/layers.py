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


class LabelEmbedding(nn.Module):
    """Conditional generators see z concatenated with a learned embedding of the label."""

    def __init__(self, num_classes: int, z_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.out_dim = z_dim * 2 if num_classes else z_dim

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        return torch.cat([z, self.embed(labels)], dim=1)


class Projection(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018): logit + <embed(y), features>."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:  # small, so the class term starts as a nudge, not the logit
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, logits: torch.Tensor, features: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return logits
        if labels is None:
            raise ValueError("a conditional discriminator needs labels")
        return logits + (self.embed(labels) * features).sum(dim=1)


def leaky_relu(dropout: float) -> list[nn.Module]:
    """LeakyReLU(0.2), followed by dropout when asked (the exercise's D regulariser)."""
    return [nn.LeakyReLU(0.2, inplace=True)] + ([nn.Dropout(dropout)] if dropout else [])


def without_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in `module` by Identity (the 'BatchNorm off in D' option)."""
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(module, name, nn.Identity())
        else:
            without_batch_norm(child)
    return module


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every convolution and linear layer."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


def balanced_labels(count: int, num_classes: int, device=None) -> torch.Tensor | None:
    """0, 1, ..., k-1, 0, 1, ... for a conditional generator; None for an unconditional one."""
    return torch.arange(count, device=device) % num_classes if num_classes else None

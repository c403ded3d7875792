"""A small normalisation-free residual GAN for 28-64 px, in the spirit of R3GAN (Huang et al.,
"The GAN is dead; long live the GAN!", 2024): no BatchNorm anywhere, residual blocks whose last
layer starts at zero (each block starts as the identity, so depth does not blow up the signal),
fan-in scaled (He) initialisation for leaky ReLU, and bilinear resampling. Its paper pairs it
with the relativistic pairing loss and R1 + R2 (`--preset stacked-r3gan`).

G: z [+ label embedding] -> linear -> s x s (7 for 28 px, else 4) -> (block, bilinear x2)... ->
block -> conv -> Tanh. D: conv -> block -> (bilinear /2, block)... -> linear -> one logit
[+ projection]. Widths change at the lower resolution of each step (G narrows before doubling,
D widens after halving), so the full-size blocks stay ngf/ndf wide.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.layers import MinibatchStd, Projection

SIZES = (28, 32, 64)
SLOPE = 0.2


def _base(image_size: int) -> int:
    return 7 if image_size == 28 else 4


def _stages(image_size: int) -> int:
    """Doublings from the base size to the image size."""
    return (image_size // _base(image_size)).bit_length() - 1


def _scaled_init(module: nn.Module) -> None:
    """He initialisation for leaky ReLU (fan-in), zero biases."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.kaiming_normal_(module.weight, a=SLOPE, nonlinearity="leaky_relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))), a 1x1 shortcut where the width changes; the branch's last
    convolution is zero at the start."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.LeakyReLU(SLOPE), nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(SLOPE), nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, bias=False) \
            if in_channels != out_channels else nn.Identity()
        self.apply(_scaled_init)
        nn.init.zeros_(self.branch[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.branch(x)


def _widths(width: int, stages: int) -> list[int]:
    """Channels per resolution from the lowest: 4w, 2w, then w."""
    return [width * max(1, 4 >> index) for index in range(stages + 1)]


class Generator(nn.Module):
    def __init__(self, z_dim: int = 64, channels: int = 3, image_size: int = 28, num_classes: int = 0,
                 ngf: int = 64, conditioning: str = "input"):
        super().__init__()
        # (a conditional G hears the label as an embedding beside z; there is no normalisation
        # to condition, so `conditioning` has this one meaning here)
        self.z_dim, self.num_classes, self.base = z_dim, num_classes, _base(image_size)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        widths = _widths(ngf, _stages(image_size))
        self.input = nn.Linear(z_dim * (2 if num_classes else 1), widths[0] * self.base ** 2)
        # (each block narrows before the doubling, at the lower resolution, so the full-size
        # block stays narrow: 2.5 times less arithmetic than narrowing after it)
        self.blocks = nn.ModuleList(ResidualBlock(widths[index], widths[min(index + 1, len(widths) - 1)])
                                    for index in range(len(widths)))
        self.output = nn.Sequential(nn.LeakyReLU(SLOPE), nn.Conv2d(widths[-1], channels, 3, padding=1),
                                    nn.Tanh())
        for module in (self.input, self.output):
            module.apply(_scaled_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        # (the linear layer's output read as base x base x channels: NHWC memory, like the rest)
        x = self.input(z).view(len(z), self.base, self.base, -1).permute(0, 3, 1, 2)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index < len(self.blocks) - 1:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.output(x)


class Discriminator(nn.Module):
    def __init__(self, channels: int = 3, image_size: int = 28, num_classes: int = 0, ndf: int = 64,
                 minibatch_std: int = 0, dropout: float = 0.0):
        super().__init__()
        widths = _widths(ndf, _stages(image_size))[::-1]
        self.input = nn.Conv2d(channels, widths[0], 3, padding=1)
        # (G mirrored: each block widens after the halving, at the lower resolution, so the
        # full-size block stays narrow: a third of the arithmetic of widening before it)
        self.blocks = nn.ModuleList(ResidualBlock(widths[max(index - 1, 0)], widths[index])
                                    for index in range(len(widths)))
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        base = _base(image_size)
        features = widths[-1] * base ** 2 + (base ** 2 if minibatch_std else 0)
        self.head = nn.Sequential(nn.LeakyReLU(SLOPE), nn.Dropout(dropout) if dropout else nn.Identity())
        self.logit = nn.Linear(features, 1)
        self.projection = Projection(num_classes, features)
        for module in (self.input, self.logit):
            module.apply(_scaled_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.input(images)
        for index, block in enumerate(self.blocks):
            if index:  # (bilinear halving is a 2x2 average)
                x = F.avg_pool2d(x, 2)
            x = block(x)
        if self.minibatch_std is not None:
            x = self.minibatch_std(x)
        features = self.head(x).flatten(1)
        return self.projection(self.logit(features).squeeze(1), features, labels)

"""A few-shot GAN for 64-256 px after FastGAN (Liu et al., ICLR 2021), for folders of a few
thousand images or fewer.

- G: from a 4x4 start, upsampling blocks (nearest x2, 3x3 conv, BatchNorm, GLU); skip-layer
  excitation: each block from 64 px up is gated channel-wise by a block 16x smaller in
  resolution (4 -> 64, 8 -> 128, 16 -> 256), so coarse structure steers fine texture cheaply.
- D: strided 4x4 convolutions down to 4x4, and two small decoders that make it describe what it
  sees (self-supervision): one reconstructs the whole real image (downscaled to 64 px) from the
  8x8 features, one a random quarter of it from the matching crop of the 16x16 features. The
  reconstruction loss is L1: FastGAN adds a perceptual (LPIPS) term, whose weights cannot be had
  offline.

Our own code, written from the paper and its description of the architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.layers import MinibatchStd, dcgan_init

SIZES = (64, 128, 256)
RECONSTRUCTION_SIZE = 64
# G's width at each resolution, in multiples of ngf (FastGAN's table).
G_WIDTHS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5}


def _g_width(resolution: int, ngf: int) -> int:
    return max(8, int(G_WIDTHS[resolution] * ngf))


def _d_width(resolution: int, ndf: int) -> int:
    """D's width at each resolution: ndf at 64 px and above, doubling down to 8 ndf at 8 and 4."""
    return ndf * min(8, max(1, 64 // resolution))


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """x2 nearest, 3x3 conv to twice the width, BatchNorm, GLU (which halves it again)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(in_channels, 2 * out_channels, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * out_channels), nn.GLU(dim=1))


class SkipExcitation(nn.Module):
    """Skip-layer excitation: a low-resolution block's features, pooled to 4x4 and squeezed to
    one gate per channel, scale a high-resolution block's channels."""

    def __init__(self, low_channels: int, high_channels: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4),
                                  nn.Conv2d(low_channels, high_channels, 4, 1, 0, bias=False),
                                  nn.SiLU(),
                                  nn.Conv2d(high_channels, high_channels, 1, 1, 0, bias=False),
                                  nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 256, channels: int = 3, image_size: int = 128, ngf: int = 64,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.resolutions = [4 * 2 ** index for index in range(image_size.bit_length() - 2)]
        self.start = nn.Sequential(nn.ConvTranspose2d(z_dim, 2 * _g_width(4, ngf), 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(2 * _g_width(4, ngf)), nn.GLU(dim=1))
        self.blocks = nn.ModuleList(up_block(_g_width(resolution // 2, ngf), _g_width(resolution, ngf))
                                    for resolution in self.resolutions[1:])
        # 64 px is excited by 4 px, 128 by 8, 256 by 16.
        self.excitations = nn.ModuleDict({
            str(resolution): SkipExcitation(_g_width(resolution // 16, ngf), _g_width(resolution, ngf))
            for resolution in self.resolutions if resolution >= 64})
        self.to_image = nn.Sequential(nn.Conv2d(_g_width(image_size, ngf), channels, 3, 1, 1), nn.Tanh())
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = {4: self.start(z[:, :, None, None])}
        x = features[4]
        for resolution, block in zip(self.resolutions[1:], self.blocks):
            x = block(x)
            if str(resolution) in self.excitations:
                x = self.excitations[str(resolution)](features[resolution // 16], x)
            features[resolution] = x
        return self.to_image(x)


def down_block(in_channels: int, out_channels: int, first: bool = False) -> nn.Sequential:
    """4x4 stride-2 conv, BatchNorm (not on the image layer), LeakyReLU(0.2)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=first),
                         *([] if first else [nn.BatchNorm2d(out_channels)]),
                         nn.LeakyReLU(0.2, inplace=True))


def decoder(in_channels: int, channels: int, ndf: int) -> nn.Sequential:
    """8x8 features -> a 64 px image in [-1, 1]: three up blocks narrowing to ndf / 2."""
    widths = [in_channels, 2 * ndf, ndf, max(8, ndf // 2)]
    return nn.Sequential(*(up_block(widths[index], widths[index + 1]) for index in range(3)),
                         nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh())


class Discriminator(nn.Module):
    def __init__(self, channels: int = 3, image_size: int = 128, ndf: int = 64, num_classes: int = 0,
                 dropout: float = 0.0, minibatch_std: int = 0):
        super().__init__()
        resolutions = [image_size // 2 ** index for index in range(1, image_size.bit_length() - 2)]
        widths = [channels] + [_d_width(resolution, ndf) for resolution in resolutions]
        self.down = nn.ModuleList(down_block(widths[index], widths[index + 1], first=index == 0)
                                  for index in range(len(resolutions)))
        self.resolutions = resolutions  # of each down block's output: image_size / 2 ... 4
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Conv2d(widths[-1] + bool(minibatch_std), 1, 4, 1, 0)
        self.decode_whole = decoder(_d_width(8, ndf), channels, ndf)
        self.decode_quarter = decoder(_d_width(16, ndf), channels, ndf)
        self.apply(dcgan_init)

    def features(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        """Each down block's output, by resolution."""
        features, x = {}, images
        for resolution, block in zip(self.resolutions, self.down):
            x = block(x)
            features[resolution] = x
        return features

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        last = self.features(images)[4]
        return self.head(self.minibatch_std(last)).flatten(1).sum(1)

    def reconstruction_loss(self, images: torch.Tensor) -> torch.Tensor:
        """L1 between the decoders' pictures and the real images they describe: the whole image
        at 64 px from the 8x8 features, and a random quarter (one per image) from its 8x8 crop
        of the 16x16 features. Device-side choices only, so a CUDA graph can replay it."""
        features = self.features(images)
        whole = F.l1_loss(self.decode_whole(features[8]),
                          F.interpolate(images, size=RECONSTRUCTION_SIZE, mode="area"))
        picked = torch.arange(len(images), device=images.device), \
            torch.randint(0, 4, (len(images),), device=images.device)
        crops = _quarters(features[16])[picked]
        targets = _quarters(F.interpolate(images, size=2 * RECONSTRUCTION_SIZE, mode="area"))[picked]
        return whole + F.l1_loss(self.decode_quarter(crops), targets)


def _quarters(x: torch.Tensor) -> torch.Tensor:
    """(N, C, 2h, 2w) -> (N, 4, C, h, w): top-left, top-right, bottom-left, bottom-right."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return torch.stack([x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]], dim=1)

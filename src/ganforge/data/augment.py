"""Augmentation of a whole batch at once on its device (never image by image through PIL)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def rotate(images: torch.Tensor, max_degrees: float,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each image by its own uniform angle in [-max_degrees, max_degrees].

    Pixels rotated in from outside are 0, so call this on images whose background is 0.
    """
    batch, _, height, width = images.shape
    angles = (torch.rand(batch, device=images.device, generator=generator) * 2 - 1) \
        * math.radians(max_degrees)
    cos, sin = torch.cos(angles).view(-1, 1, 1), torch.sin(angles).view(-1, 1, 1)
    # F.affine_grid's sampling grid, by broadcasting (its batched 3x2 matrix product costs more
    # on the CPU; docs/performance.md): pixel centres in [-1, 1], rotated.
    xs = (torch.arange(width, device=images.device) * 2 + 1) / width - 1
    ys = ((torch.arange(height, device=images.device) * 2 + 1) / height - 1).view(-1, 1)
    grid = torch.stack([cos * xs - sin * ys, sin * xs + cos * ys], dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def hflip(images: torch.Tensor, dim: int = -1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the batch left-right (or, with dim=-2, top-bottom)."""
    flip = torch.rand(images.shape[0], 1, 1, 1, device=images.device, generator=generator) < 0.5
    return torch.where(flip, images.flip(dim), images)


def to_model_range(batch: torch.Tensor, rotation_degrees: float = 0.0, flip: bool = False,
                   unit: bool = False, vertical_flip: bool = False,
                   generator: torch.Generator | None = None):
    """uint8 images -> float in [-1, 1] (or [0, 1] with `unit`), augmented (drawing from
    `generator`, else the global stream); rotation runs in [0, 1] so corners stay black."""
    images = batch.to(torch.get_default_dtype()).div_(255)
    if rotation_degrees > 0:
        images = rotate(images, rotation_degrees, generator)
    if flip:
        images = hflip(images, generator=generator)
    if vertical_flip:
        images = hflip(images, dim=-2, generator=generator)
    return images if unit else images.mul_(2).sub_(1)


def translate(images: torch.Tensor, fraction: float = 0.125) -> torch.Tensor:
    """DiffAugment translation: shift each image by up to `fraction` of its size, zero-filled.

    Differentiable with respect to the images, so it can sit between G and D.
    """
    batch, _, height, width = images.shape
    shifts = torch.randint(-int(height * fraction), int(height * fraction) + 1, (batch, 2),
                           device=images.device)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)  # (bf16 fakes too)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = shifts[:, 0] * 2 / width
    theta[:, 1, 2] = shifts[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(images: torch.Tensor, fraction: float = 0.5) -> torch.Tensor:
    """DiffAugment cutout: zero one square of `fraction` of the size at a random place per image."""
    batch, _, height, width = images.shape
    size_h, size_w = int(height * fraction), int(width * fraction)
    centre = torch.rand(batch, 2, 1, device=images.device)
    rows = torch.arange(height, device=images.device)
    columns = torch.arange(width, device=images.device)
    inside_rows = (rows - centre[:, 0] * height).abs() < size_h / 2
    inside_columns = (columns - centre[:, 1] * width).abs() < size_w / 2
    keep = ~(inside_rows[:, :, None] & inside_columns[:, None, :])
    return images * keep[:, None].to(images.dtype)


def color(images: torch.Tensor) -> torch.Tensor:
    """DiffAugment color: per image, brightness + U(-0.5, 0.5), saturation x U(0, 2) about the
    pixel's channel mean, contrast x U(0.5, 1.5) about the image mean (images in [-1, 1])."""
    batch = images.shape[0]
    draw = torch.rand(batch, 3, 1, 1, 1, device=images.device, dtype=images.dtype)
    images = images + (draw[:, 0] - 0.5)
    if images.shape[1] > 1:  # saturation means nothing for a grayscale image
        pixel_mean = images.mean(dim=1, keepdim=True)
        images = pixel_mean + (images - pixel_mean) * (draw[:, 1] * 2)
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return image_mean + (images - image_mean) * (draw[:, 2] + 0.5)


DIFF_AUGMENTS = {"color": color, "translation": translate, "cutout": cutout}


def diff_augment(images: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply each comma-separated DiffAugment of `policy`; the same for real and fake inputs.
    The result keeps NHWC memory if the input had it (grid_sample returns NCHW): D's layers
    would convert it otherwise."""
    nhwc = images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last)
    for name in filter(None, policy.split(",")):
        images = DIFF_AUGMENTS[name](images)
    return images.contiguous(memory_format=torch.channels_last) if nhwc else images

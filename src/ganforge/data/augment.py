"""Augmentation of a whole batch at once on its device (never image by image through PIL)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def rotate(images: torch.Tensor, max_degrees: float) -> torch.Tensor:
    """Rotate each image by its own uniform angle in [-max_degrees, max_degrees].

    Pixels rotated in from outside are 0, so call this on images whose background is 0.
    """
    batch = images.shape[0]
    angles = (torch.rand(batch, device=images.device) * 2 - 1) * math.radians(max_degrees)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def hflip(images: torch.Tensor) -> torch.Tensor:
    """Mirror a random half of the batch left-right."""
    flip = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < 0.5
    return torch.where(flip, images.flip(-1), images)


def to_model_range(batch: torch.Tensor, rotation_degrees: float = 0.0, flip: bool = False):
    """uint8 images -> float in [-1, 1], augmented; rotation runs in [0, 1] so corners stay black."""
    images = batch.float().div_(255)
    if rotation_degrees > 0:
        images = rotate(images, rotation_degrees)
    if flip:
        images = hflip(images)
    return images.mul_(2).sub_(1)

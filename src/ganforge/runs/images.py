"""Image grids: how a batch of images in [-1, 1] becomes one picture a person looks at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.metrics.images import to_uint8


def image_grid(images: torch.Tensor, padding: int = 2, columns: int | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> one about-square uint8 grid (H, W, 3).

    Written here rather than taken from torchvision.utils: importing torchvision costs two
    seconds on every command.
    """
    pixels = to_uint8(images)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    count, channels, height, width = pixels.shape
    columns = columns or max(1, round(count ** 0.5))
    rows = -(-count // columns)
    grid = torch.zeros(channels, rows * (height + padding) + padding,
                       columns * (width + padding) + padding, dtype=torch.uint8)
    for index, image in enumerate(pixels):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[:, top:top + height, left:left + width] = image
    return grid.permute(1, 2, 0).numpy()


def save_grid_png(images: torch.Tensor, path: Path, columns: int | None = None) -> np.ndarray:
    grid = image_grid(images, columns=columns)
    Image.fromarray(grid).save(path)
    return grid

"""A dataset's split as images to write (ganforge export-dataset): data whose truth is known, to
train and score folder runs on."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ganforge.data.sources import load_split
from ganforge.errors import ConfigError

CHUNK = 1000


def split_images(dataset: str, *, size: int | None = None, split: str = "train", limit: int = 0,
                 data_dir: str | None = None) -> tuple[Iterator[torch.Tensor], int]:
    """The split's images in [-1, 1], resized to `size` px (None: as they are), in chunks, and
    their count."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be train or test, got {split!r}")
    if size is not None and not 8 <= size <= 1024:
        raise ConfigError(f"size must be between 8 and 1024 px, got {size}")
    images, _ = load_split(dataset, data_dir, split)
    images = images[:limit] if limit else images

    def chunks() -> Iterator[torch.Tensor]:
        for start in range(0, len(images), CHUNK):
            chunk = torch.from_numpy(images[start:start + CHUNK]).float() / 127.5 - 1
            if size is not None and size != chunk.shape[-1]:
                chunk = F.interpolate(chunk, size=(size, size), mode="bicubic", antialias=True,
                                      align_corners=False).clamp(-1, 1)
            yield chunk

    return chunks(), len(images)

"""Procedurally generated abstract images: a folder dataset anyone can make offline, for tests
and the folder benchmarks (shapes in colors on a background, of varied size and aspect)."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw


def abstract_image(rng: random.Random) -> Image.Image:
    """Random shapes in random colors on a random background, of a random size and shape."""
    size = (rng.randint(40, 160), rng.randint(40, 160))
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 6)):
        (left, right), (top, bottom) = (sorted(rng.randrange(length) for _ in range(2)) for length in size)
        corners = [left, top, right + 1, bottom + 1]
        color = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(corners, fill=color)
    return image


def write_abstract_folder(out: Path, count: int, seed: int = 0) -> Path:
    """`count` abstract images as PNG files in `out` (created), the same for the same seed."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        abstract_image(rng).save(out / f"{index:05d}.png")
    return out

"""Stacked MNIST (Metz et al. 2017, VEEGAN, PacGAN, R3GAN): three MNIST digits drawn at random as
the R, G and B channels of one 28 x 28 image, so 1,000 modes (d1, d2, d3); the label is the
triple's id 100 d1 + 10 d2 + d3. Built from the shipped IDX files by a fixed seed per split: the
same triples in any process, no new files."""

from __future__ import annotations

import numpy as np

# A split's triples are drawn by its own seed: the test split's from the MNIST test digits.
SEEDS = {"train": 0, "test": 1}


def stack(images: np.ndarray, labels: np.ndarray, count: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """`count` triples of `images` (N, 1, 28, 28) uint8: images (count, 3, 28, 28), labels (count,)."""
    chosen = np.random.default_rng(SEEDS[split]).integers(0, len(images), size=(count, 3))
    stacked = images[chosen, 0]  # (count, 3, 28, 28)
    digits = labels[chosen]
    return np.ascontiguousarray(stacked), (digits @ np.array([100, 10, 1])).astype(np.int64)


def digits_of(triples: np.ndarray) -> np.ndarray:
    """Triple ids -> (N, 3) digits."""
    return np.stack([triples // 100, triples // 10 % 10, triples % 10], axis=1)

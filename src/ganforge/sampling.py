"""Drawing images from a generator: the same seed gives the same images on any device, for any
count and batch size (what training's grids and evaluations, sampling and serving all use)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ganforge.models.layers import balanced_labels

# Latent vectors are drawn in blocks of this many rows, so that any count, batch size or chunked
# writer sees the same z for image k (a multiple of 16: torch's CPU normal sampler then gives one
# long draw's values exactly).
LATENT_BLOCK = 1024


@torch.no_grad()
def generate_chunks(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000,
                    labels: torch.Tensor | None = None, z: torch.Tensor | None = None
                    ) -> Iterator[torch.Tensor]:
    """`count` images in [-1, 1] on the CPU, LATENT_BLOCK at a time; the same seed gives the same
    images on any device, for any count and batch size.

    A conditional generator draws `labels` (default: every class in turn).
    """
    device = next(generator.parameters(), torch.empty(0)).device  # ONNX generators: no parameters
    noise = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = balanced_labels(count, generator.num_classes)
    for start in range(0, count, LATENT_BLOCK):
        rows = min(LATENT_BLOCK, count - start)
        block_z = torch.randn(rows, generator.z_dim, generator=noise) if z is None \
            else z[start:start + rows]
        block_labels = None if labels is None else labels[start:start + rows]
        yield torch.cat([
            generator(part.to(device), None if block_labels is None
                      else block_labels[offset:offset + len(part)].to(device)).cpu()
            for offset, part in zip(range(0, rows, batch_size), block_z.split(batch_size))])


def generate(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000,
             labels: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """All of `generate_chunks` as one tensor (N, C, H, W)."""
    return torch.cat(list(generate_chunks(generator, count, seed, batch_size, labels, z)))


# A sheet by class: one row of this many samples for every class.
PER_CLASS = 10


def by_class(generator: nn.Module, seed: int = 0) -> tuple[Iterator[torch.Tensor], int]:
    """PER_CLASS images of every class of a conditional generator, class by class, and their
    count (for `write_samples`)."""
    labels = torch.arange(generator.num_classes).repeat_interleave(PER_CLASS)
    return generate_chunks(generator, len(labels), seed, labels=labels), len(labels)


def slerp(start: torch.Tensor, end: torch.Tensor, weights: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation from `start` to `end` (vectors or rows of vectors) at `weights`
    (0 gives start, 1 gives end; broadcast, e.g. shape (steps, 1) for a walk of `steps` points)."""
    weights = torch.as_tensor(weights, dtype=start.dtype)
    cosine = (start / start.norm(dim=-1, keepdim=True) * end / end.norm(dim=-1, keepdim=True)) \
        .sum(dim=-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cosine)
    straight = (1 - weights) * start + weights * end
    curved = (torch.sin((1 - weights) * omega) * start + torch.sin(weights * omega) * end) \
        / torch.sin(omega).clamp_min(1e-12)
    return torch.where(omega.abs() < 1e-6, straight, curved)


def latent_walk(generator: nn.Module, steps: int, seed: int, seed2: int,
                labels: torch.Tensor | None = None) -> torch.Tensor:
    """`steps` images along the latent sphere from seed's z to seed2's (slerp)."""
    ends = [torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(value))
            for value in (seed, seed2)]
    z = slerp(*ends, torch.linspace(0, 1, steps)[:, None])
    return generate(generator, steps, labels=labels, z=z)

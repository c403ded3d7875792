"""Chunked nearest-neighbour distances: a 10k x 10k float matrix is never held whole."""

from __future__ import annotations

from collections.abc import Iterator

import torch

CHUNK = 2048


def distance_chunks(rows: torch.Tensor, columns: torch.Tensor
                    ) -> Iterator[tuple[slice, torch.Tensor]]:
    """(row slice, Euclidean distances of those rows to every column)."""
    for start in range(0, len(rows), CHUNK):
        part = slice(start, start + CHUNK)
        yield part, torch.cdist(rows[part], columns)


def kth_neighbour_radius(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point in the same set."""
    radii = torch.empty(len(features))
    for part, distances in distance_chunks(features, features):
        # The smallest distance is the point to itself (0), so the k-th neighbour is index k.
        radii[part] = distances.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def nearest_distance(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Distance from each row to its nearest column."""
    nearest = torch.empty(len(rows))
    for part, distances in distance_chunks(rows, columns):
        nearest[part] = distances.min(dim=1).values
    return nearest

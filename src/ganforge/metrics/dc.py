"""Density and coverage (Naeem et al. 2020), k = 5: precision/recall made robust to outliers."""

from __future__ import annotations

import torch

from ganforge.metrics.base import Key, MetricInputs, register_metric
from ganforge.metrics.knn import distance_chunks, kth_neighbour_radius

K = 5


def density_coverage(real: torch.Tensor, generated: torch.Tensor, k: int = K,
                     radii: torch.Tensor | None = None) -> tuple[float, float]:
    radii = kth_neighbour_radius(real, k) if radii is None else radii
    neighbourhoods_hit = torch.zeros(len(generated))
    covered = torch.zeros(len(real), dtype=torch.bool)
    for part, distances in distance_chunks(generated, real):
        within = distances <= radii  # (generated chunk, real): inside that real sample's ball
        neighbourhoods_hit[part] = within.sum(dim=1).float()
        covered |= within.any(dim=0)
    density = float(neighbourhoods_hit.sum() / (k * len(generated)))
    return density, float(covered.float().mean())


@register_metric("dc", keys=[Key("density", "density", "higher"),
                       Key("coverage", "coverage", "higher")], order=40)
def dc(inputs: MetricInputs) -> dict[str, float]:
    density, coverage = density_coverage(inputs.reference.features, inputs.generated.features,
                                         radii=inputs.reference.kth_radius(K))
    return {"density": density, "coverage": coverage}

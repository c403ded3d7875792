"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds, k = 3.

Precision: the share of *generated* samples inside the manifold of the *real* ones (quality).
Recall: the share of *real* samples inside the manifold of the *generated* ones (coverage of
the data). Several public implementations swap the two arguments; the test that mode collapse
lowers recall but not precision pins the order here.
"""

from __future__ import annotations

import torch

from ganforge.metrics.base import Key, MetricInputs, register_metric
from ganforge.metrics.knn import distance_chunks, kth_neighbour_radius

K = 3


def manifold_share(points: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor | None = None,
                   k: int = K) -> float:
    """Share of `points` within the k-NN radius (`radii`, computed when not given) of at least
    one sample of `manifold`."""
    radii = kth_neighbour_radius(manifold, k) if radii is None else radii
    inside = torch.zeros(len(points), dtype=torch.bool)
    for part, distances in distance_chunks(points, manifold):
        inside[part] = (distances <= radii).any(dim=1)
    return float(inside.float().mean())


def precision_recall(real: torch.Tensor, generated: torch.Tensor,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """(precision, recall) of `generated` against `real`; the order of the arguments matters."""
    return manifold_share(generated, real, real_radii), manifold_share(real, generated)


@register_metric("pr", keys=[Key("precision", "precision", "higher"),
                       Key("recall", "recall", "higher")], training=True, tables=True, order=30)
def pr(inputs: MetricInputs) -> dict[str, float]:
    precision, recall = precision_recall(inputs.reference.features, inputs.generated.features,
                                         inputs.reference.kth_radius(K))
    return {"precision": precision, "recall": recall}

"""What every metric receives, and the registry metrics are found in by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.knn import kth_neighbour_radius
from ganforge.registry import Registry


@dataclass(frozen=True)
class FeatureSet:
    features: torch.Tensor  # (N, D) float32, the feature network's penultimate layer
    probabilities: torch.Tensor  # (N, classes), its softmax
    # (N,) the class each image was drawn for (generated) or shows (real); None when unknown
    labels: torch.Tensor | None = None
    _radii: dict[int, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    def kth_radius(self, k: int) -> torch.Tensor:
        """Each sample's distance to its k-th nearest neighbour in the set, computed once: a
        real set's radii serve every evaluation of a training run."""
        if k not in self._radii:
            self._radii[k] = kth_neighbour_radius(self.features, k)
        return self._radii[k]


@dataclass
class MetricInputs:
    generated: FeatureSet
    reference: FeatureSet  # real images of the reference split
    train: Callable[[], FeatureSet]  # the training split, computed (or read from cache) on demand
    reference_split: str = "test"
    seed: int = 0
    # The generated images themselves (N, C, H, W) in [-1, 1], for a metric that trains on them
    # (cas); given when they came whole, not in chunks.
    images: torch.Tensor | None = None
    # The real test split as uint8 images and labels, read on demand (None: not a digit dataset).
    real_test: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None


def class_probabilities(inputs: MetricInputs, metric: str) -> torch.Tensor:
    """The generated images' class probabilities; a feature network without classes (the random
    embedding) has none, and `metric` is refused in one line."""
    probabilities = inputs.generated.probabilities
    if not probabilities.shape[1]:
        raise GanforgeError(f"the {metric} metric reads a classifier's classes, and these features "
                            "have none; drop it, or score with --features digits")
    return probabilities


Metric = Callable[[MetricInputs], dict[str, Any]]
METRICS: Registry[Metric] = Registry("metric")

"""What every metric receives, and the registry metrics are found in by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ganforge.registry import Registry


@dataclass(frozen=True)
class FeatureSet:
    features: torch.Tensor  # (N, D) float32, the feature network's penultimate layer
    probabilities: torch.Tensor  # (N, classes), its softmax


@dataclass
class MetricInputs:
    generated: FeatureSet
    reference: FeatureSet  # real images of the reference split
    train: Callable[[], FeatureSet]  # the training split, computed (or read from cache) on demand
    reference_split: str = "test"
    seed: int = 0


Metric = Callable[[MetricInputs], dict[str, Any]]
METRICS: Registry[Metric] = Registry("metric")

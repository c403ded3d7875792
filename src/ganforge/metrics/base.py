"""What every metric receives, and the registry metrics are found in by name.

A metric is one module holding one function, registered once with what it reports:

    @register_metric("fid", keys=[Key("fid", "FID", "lower")], training=True, tables=True)
    def fid(inputs: MetricInputs) -> dict[str, float]: ...

`evaluate`, training's evaluations, the run report, sweep tables and `compare` read the
registration: a new module in ganforge/metrics/ (or a user's `ganforge.register_metric`) shows
up everywhere without touching them.
"""

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


@dataclass(frozen=True)
class Key:
    """One headline number a metric reports: its key in results and records, its name in
    tables and plots, and which way is better."""

    name: str
    label: str
    better: str  # "lower" or "higher"

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError(f"Key {self.name!r}: better must be 'lower' or 'higher'")


# Which features a metric is a default for: any, those with classes (the digit classifier), or
# those without (the random embedding, Inception); "never": computed only when asked for.
DEFAULT_FOR = ("any", "classes", "no classes", "never")


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[MetricInputs], dict[str, Any]]
    keys: tuple[Key, ...]  # its headline numbers (it may return more: per-class lists, spreads)
    default: str = "any"  # one of DEFAULT_FOR
    training: bool = False  # computed by training's periodic evaluations
    tables: bool = False  # its keys are columns of sweep and `compare` tables
    order: int = 1000  # place in results and tables (FID first)

    def __call__(self, inputs: MetricInputs) -> dict[str, Any]:
        return self.compute(inputs)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, *, keys: list[Key | tuple[str, str, str]], default: str = "any",
                    training: bool = False, tables: bool = False, order: int = 1000):
    """Register `compute(inputs: MetricInputs) -> dict` as metric `name` (a decorator); `keys`
    as Key or (name, label, better) tuples."""
    keys = [key if isinstance(key, Key) else Key(*key) for key in keys]
    if default not in DEFAULT_FOR:
        raise ValueError(f"metric {name!r}: default must be one of {', '.join(DEFAULT_FOR)}")

    def decorator(compute: Callable[[MetricInputs], dict[str, Any]]):
        METRICS.register(name, Metric(name, compute, tuple(keys), default, training, tables, order))
        return compute

    return decorator

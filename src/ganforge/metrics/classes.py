"""Predicted-class histogram: mode collapse made visible."""

from __future__ import annotations

import torch

from ganforge.metrics.base import Key, MetricInputs, class_probabilities, register_metric

# A class counts as covered with at least this share of what a uniform spread gives it (0.02 of
# the samples for 10 classes).
COVERED_FRACTION = 0.2


def class_histogram(probabilities: torch.Tensor) -> torch.Tensor:
    """Share of samples predicted as each class."""
    counts = torch.bincount(probabilities.argmax(dim=1), minlength=probabilities.shape[1])
    return counts.double() / len(probabilities)


@register_metric("classes", keys=[Key("classes_covered", "classes covered", "higher")],
                 default="classes", training=True, tables=True, order=60)
def classes(inputs: MetricInputs) -> dict[str, float]:
    probabilities = class_probabilities(inputs, "classes")
    histogram = class_histogram(probabilities)
    count = len(probabilities)
    counts = histogram * count
    return {
        "classes_covered": int((histogram >= COVERED_FRACTION / len(histogram)).sum()),
        # An empty class counts as one sample, so the ratio stays finite (and large).
        "class_ratio": float(counts.max() / counts.min().clamp_min(1)),
        "class_histogram": [round(float(share), 4) for share in histogram],
    }

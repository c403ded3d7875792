"""Classifier score: the Inception Score's formula with the digit classifier; at most 10."""

from __future__ import annotations

import torch

from ganforge.metrics.base import Key, MetricInputs, class_probabilities, register_metric


def classifier_score(probabilities: torch.Tensor) -> float:
    """exp E_x[KL(p(y|x) || p(y))]: high when each image is confidently one class and all occur."""
    p = probabilities.double().clamp_min(1e-12)
    marginal = p.mean(dim=0, keepdim=True)
    return float(torch.exp((p * (p.log() - marginal.log())).sum(dim=1).mean()))


@register_metric("cs", keys=[Key("cs", "classifier score", "higher")], default="classes",
                 order=50)
def cs(inputs: MetricInputs) -> dict[str, float]:
    return {"cs": classifier_score(class_probabilities(inputs, "cs"))}

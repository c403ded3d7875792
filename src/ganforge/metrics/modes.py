"""Modes covered and the reverse KL to the uniform, as papers measure mode collapse on Stacked MNIST
(Metz et al. 2017; VEEGAN, PacGAN, R3GAN): every sample is read as a mode by the classifier (on
Stacked MNIST each channel's digit, 1,000 triples), the modes seen at least once are counted, and
KL(generated || uniform) = sum p log(p K) over the K modes says how evenly they are drawn (0: as
evenly as the data; log K: one mode). On MNIST the modes are the ten digits."""

from __future__ import annotations

import torch

from ganforge.metrics.base import Key, MetricInputs, class_probabilities, register_metric


def mode_counts(probabilities: torch.Tensor) -> torch.Tensor:
    """How many samples fall in each mode (the classifier's most probable class)."""
    return torch.bincount(probabilities.argmax(dim=1), minlength=probabilities.shape[1])


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform) of the histogram `counts`, in nats."""
    shares = counts.double() / counts.sum()
    seen = shares[shares > 0]
    return float((seen * (seen * len(counts)).log()).sum())


@register_metric("modes", keys=[Key("modes", "modes covered", "higher"),
                                Key("modes_kl", "KL to uniform", "lower")],
                 default="classes", training=True, tables=True, order=65)
def modes(inputs: MetricInputs) -> dict[str, float]:
    counts = mode_counts(class_probabilities(inputs, "modes"))
    return {"modes": int((counts > 0).sum()), "modes_kl": kl_to_uniform(counts),
            "mode_counts": counts.tolist()}

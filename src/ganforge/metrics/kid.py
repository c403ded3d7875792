"""Kernel Inception-style distance: unbiased MMD^2 with a cubic polynomial kernel (Binkowski et al.)."""

from __future__ import annotations

import warnings

import torch

from ganforge.metrics.base import Key, MetricInputs, register_metric

SUBSETS = 100
SUBSET_SIZE = 1000


def polynomial_mmd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased MMD^2 between two equal-size samples with k(x, y) = (x.y / d + 1)^3."""
    size, dim = a.shape
    k_aa = (a @ a.T / dim + 1) ** 3
    k_bb = (b @ b.T / dim + 1) ** 3
    k_ab = (a @ b.T / dim + 1) ** 3
    within = (k_aa.sum() - k_aa.diagonal().sum() + k_bb.sum() - k_bb.diagonal().sum())
    return float(within / (size * (size - 1)) - 2 * k_ab.mean())


@register_metric("kid", keys=[Key("kid", "KID", "lower")], tables=True, order=20)
def kid(inputs: MetricInputs) -> dict[str, float]:
    generated = inputs.generated.features.double()
    reference = inputs.reference.features.double()
    size = min(SUBSET_SIZE, len(generated), len(reference))
    if size < SUBSET_SIZE:
        warnings.warn(f"KID: only {size} samples, fewer than the usual subset size {SUBSET_SIZE}; "
                      "the estimate is noisier", stacklevel=2)
    rng = torch.Generator().manual_seed(inputs.seed)
    values = torch.tensor([
        polynomial_mmd(generated[torch.randperm(len(generated), generator=rng)[:size]],
                       reference[torch.randperm(len(reference), generator=rng)[:size]])
        for _ in range(SUBSETS)])
    return {"kid": float(values.mean()), "kid_std": float(values.std())}

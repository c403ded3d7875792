"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""

from __future__ import annotations

import numpy as np

from ganforge.metrics.base import Key, MetricInputs, register_metric


def gaussian(features) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(features, dtype=np.float64)
    return values.mean(axis=0), np.cov(values, rowvar=False)


def frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """|mu_a - mu_b|^2 + tr(A) + tr(B) - 2 tr((A B)^1/2), in float64.

    tr((A B)^1/2) = tr((A^1/2 B A^1/2)^1/2), and A^1/2 B A^1/2 is symmetric positive
    semi-definite, so symmetric eigendecompositions replace a general matrix square root:
    faster than scipy.linalg.sqrtm and never complex.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(cov_a)
    sqrt_a = (eigenvectors * np.sqrt(eigenvalues.clip(min=0))) @ eigenvectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)).sum()
    difference = mean_a - mean_b
    return float(difference @ difference + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


@register_metric("fid", keys=[Key("fid", "FID", "lower")], training=True, tables=True,
                 order=10)
def fid(inputs: MetricInputs) -> dict[str, float]:
    return {"fid": frechet_distance(*gaussian(inputs.generated.features),
                                    *gaussian(inputs.reference.features))}

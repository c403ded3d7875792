"""Feature spread: how widely generated samples scatter compared with real ones.

sqrt(tr Cov(generated) / tr Cov(real)) in the feature network's space: 1 for a generator that
varies as much as the data, near 0 for one that makes the same few images whatever z is.
"""

from __future__ import annotations

from ganforge.metrics.base import Key, MetricInputs, register_metric


def total_variance(features) -> float:
    return float(features.double().var(dim=0).sum())


@register_metric("spread", keys=[Key("feature_spread", "feature spread", "higher")],
                 training=True, order=70)
def spread(inputs: MetricInputs) -> dict[str, float]:
    ratio = total_variance(inputs.generated.features) / total_variance(inputs.reference.features)
    return {"feature_spread": ratio ** 0.5}

"""Memorization: are generated images closer to training images than unseen real images are?"""

from __future__ import annotations

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Key, MetricInputs, register_metric
from ganforge.metrics.knn import nearest_distance


@register_metric("memorization", keys=[Key("memorization", "memorization", "higher")],
                 default="no classes", order=80)
def memorization(inputs: MetricInputs) -> dict[str, float]:
    """Median nearest-train distance of generated samples over that of reference (test) samples.

    About 1 means as novel as unseen real data; well below 1 means copies of training images.
    """
    if inputs.reference_split == "train":
        raise GanforgeError("memorization compares against unseen images: use --ref test")
    train = inputs.train().features
    generated = nearest_distance(inputs.generated.features, train).median()
    reference = nearest_distance(inputs.reference.features, train).median()
    return {"memorization": float(generated / reference)}

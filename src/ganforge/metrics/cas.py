"""Classification accuracy score (Ravuri & Vinyals 2019): train the shipped classifier's
architecture on generated labelled images only, then test it on the real test set. It asks
what the write-ups call using generated images "for data augmentation and downstream tasks":
do the samples carry each class well enough to teach it? `evaluate --real --conditional
--metrics cas` gives the same recipe trained on real images, the ceiling to read it against.
"""

from __future__ import annotations

import math

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Key, MetricInputs, register_metric
from ganforge.metrics.classifier import accuracy, fit
from ganforge.metrics.images import to_uint8

# The classifier's recipe, shortened: at least this many epochs and steps of 128 (4 epochs on
# the usual 10,000 samples), so a smaller sample set is not also a shorter training.
EPOCHS, STEPS, BATCH = 3, 300, 128


@register_metric("cas", keys=[Key("cas", "classification accuracy score", "higher")],
                 default="never", order=100)
def classification_accuracy_score(inputs: MetricInputs) -> dict[str, float]:
    images, labels = inputs.images, inputs.generated.labels
    if images is None or labels is None:
        raise GanforgeError("cas trains a classifier on labelled samples: score a conditional run "
                            "or generator (or --real --conditional for the ceiling)")
    if tuple(images.shape[1:]) != (1, 28, 28) or inputs.real_test is None:
        raise GanforgeError("cas trains ganforge's 28 x 28 grayscale classifier: score MNIST or "
                            "Fashion-MNIST samples, or drop it from --metrics")
    with torch.random.fork_rng(devices=[]):
        epochs = max(EPOCHS, math.ceil(STEPS / max(1, len(images) // BATCH)))
        model = fit(to_uint8(images), labels, epochs=epochs, seed=inputs.seed, batch_size=BATCH,
                    log=lambda line: None)
    test_images, test_labels = inputs.real_test()
    return {"cas": accuracy(model, test_images, test_labels)}

"""The classification accuracy score tells samples that teach their class from samples that do
not: the same images score high with their labels and near chance with shuffled ones."""

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import cas, evaluate, real_images_and_labels
from helpers import MNIST_DIR


@pytest.mark.slow  # (two classifiers trained)
def test_cas_rewards_samples_that_carry_their_labels(monkeypatch):
    monkeypatch.setattr(cas, "STEPS", 60)  # (the metric's 300, shortened: the gap shows by then)
    images, labels = real_images_and_labels("mnist", "train", 640, str(MNIST_DIR))
    right = evaluate(images, "mnist", metrics=("cas",), labels=labels, data_dir=str(MNIST_DIR))
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    wrong = evaluate(images, "mnist", metrics=("cas",), labels=shuffled, data_dir=str(MNIST_DIR))
    assert right["cas"] > 0.6 and wrong["cas"] < 0.25, (right["cas"], wrong["cas"])


def test_cas_needs_labels():
    images, _ = real_images_and_labels("mnist", "train", 50, str(MNIST_DIR))
    with pytest.raises(GanforgeError, match="cas trains a classifier on labelled samples"):
        evaluate(images, "mnist", metrics=("cas",), data_dir=str(MNIST_DIR))

"""Stacked MNIST: the same triples in any process, each channel the digit its label says."""

import numpy as np

from ganforge.config import resolve
from ganforge.data.catalog import data_shape
from ganforge.data.sources import load_data, load_split
from ganforge.data.stacked import digits_of
from helpers import MNIST_DIR


def test_triples_are_fixed_and_labelled_by_their_digits():
    images, labels = load_split("stacked-mnist", str(MNIST_DIR), "test", count=500)
    again, _ = load_split("stacked-mnist", str(MNIST_DIR), "test", count=500)
    assert images.shape == (500, 3, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, again) and labels.min() >= 0 and labels.max() < 1000
    mnist, mnist_labels = load_split("mnist", str(MNIST_DIR), "test")
    lookup = {image.tobytes(): label for image, label in zip(mnist[:, 0], mnist_labels)}
    for image, digits in zip(images[:20], digits_of(labels[:20])):
        assert [lookup[channel.tobytes()] for channel in image] == list(digits)
    assert len(np.unique(labels)) > 350  # 500 draws of 1,000 triples: many distinct


def test_the_training_count_is_a_setting_and_the_shape_has_1000_classes():
    data = resolve("stacked-dcgan", [("data.stacked_count", 300), ("data.path", str(MNIST_DIR))]).data
    images, labels = load_data(data, "train")
    assert images.shape == (300, 3, 28, 28) and data_shape(data) == (3, 28, 1000)
    first, _ = load_data(resolve("stacked-dcgan", [("data.stacked_count", 100),
                                                   ("data.path", str(MNIST_DIR))]).data, "train")
    assert np.array_equal(first, images[:100])  # one seeded draw: a smaller count is its start

"""The conditional metrics against cases whose answer is known."""

import pytest
import torch

import ganforge
from ganforge.metrics import evaluate, real_images_and_labels
from ganforge.metrics.features import extract, load_classifier
from helpers import MNIST_DIR


def test_one_copied_image_per_class_has_no_spread_and_no_recall():
    """Every image the label asked for and real, yet each class one image: label accuracy 1,
    spread and recall about 0 in every class."""
    images, labels = real_images_and_labels("mnist", "test", 2000, str(MNIST_DIR))
    read = extract(load_classifier("mnist"), images)[1].argmax(1)
    exemplars = torch.stack([images[(labels == k) & (read == k)][0] for k in range(10)])
    drawn_for = torch.arange(10).repeat_interleave(50)
    scores = evaluate(exemplars[drawn_for], "mnist", ("fid",), data_dir=str(MNIST_DIR), labels=drawn_for)
    assert scores["label_accuracy"] == 1.0
    assert max(scores["class_spread"]) < 0.01 and scores["min_class_spread"] < 0.01
    assert scores["mean_class_recall"] < 0.01
    assert scores["intra_fid"] > 3  # 5.2 here: 50x the real floor of 0.096 (below)


def test_real_images_score_the_floor():
    scores = ganforge.evaluate(real=True, conditional=True, n=5000, metrics=["fid"], data_dir=MNIST_DIR)
    assert scores["label_accuracy"] > 0.99
    assert scores["intra_fid"] < 0.5
    assert scores["min_class_spread"] > 0.85 and max(scores["class_spread"]) < 1.15
    assert scores["mean_class_recall"] > 0.6
    assert len(scores["class_fid"]) == len(scores["class_recall"]) == 10


def test_labels_must_match_the_images():
    images, labels = real_images_and_labels("mnist", "test", 100, str(MNIST_DIR))
    with pytest.raises(ganforge.GanforgeError, match="99 labels for 100 images"):
        evaluate(images, "mnist", ("fid",), data_dir=str(MNIST_DIR), labels=labels[:99])
    scores = evaluate(images, "mnist", ("fid",), data_dir=str(MNIST_DIR))
    assert "label_accuracy" not in scores  # unconditional sources get no conditional metrics

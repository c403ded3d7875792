"""The modes metric on constructed cases, and on real Stacked MNIST (the floor: every mode)."""

import math

import numpy as np
import torch

from ganforge.data.sources import load_split
from ganforge.metrics import evaluate
from ganforge.metrics.base import METRICS, FeatureSet, MetricInputs
from helpers import MNIST_DIR


def modes_of(classes: torch.Tensor, num_classes: int = 1000) -> dict:
    probabilities = torch.nn.functional.one_hot(classes, num_classes).float()
    generated = FeatureSet(torch.zeros(len(classes), 2), probabilities)
    return METRICS.get("modes")(MetricInputs(generated=generated, reference=generated,
                                             train=lambda: generated))


def test_every_mode_evenly_and_ten_copied_modes():
    even = modes_of(torch.arange(1000).repeat(26))
    assert even["modes"] == 1000 and abs(even["modes_kl"]) < 1e-9
    copied = modes_of(torch.arange(0, 1000, 100).repeat(2600))
    assert copied["modes"] == 10 and math.isclose(copied["modes_kl"], math.log(100), rel_tol=1e-9)
    assert sum(copied["mode_counts"]) == 26_000


def to_model_range(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float() / 127.5 - 1


def test_real_triples_cover_every_mode_and_blank_channels_are_read_not_crashed():
    images, _ = load_split("stacked-mnist", str(MNIST_DIR), "test", count=12_000)
    real = evaluate(to_model_range(images), "stacked-mnist", ("modes",), ref_count=1000,
                    data_dir=str(MNIST_DIR))
    assert real["modes"] >= 999 and real["modes_kl"] < 0.06  # (K - 1) / 2N ≈ 0.04 from sampling
    blank = evaluate(-torch.ones(500, 3, 28, 28), "stacked-mnist", ("modes", "fid"), ref_count=1000,
                     data_dir=str(MNIST_DIR))
    assert blank["modes"] == 1 and math.isclose(blank["modes_kl"], math.log(1000), rel_tol=1e-6)
    assert blank["fid"] > 100

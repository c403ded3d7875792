"""The fixed random embedding: the same weights everywhere, meaningful distances, no classes."""

from __future__ import annotations

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import defaults, evaluate, real_images
from ganforge.metrics.features import default_features, feature_network
from ganforge.metrics.random_network import RandomEmbedding, weights_sha256

# Changing the architecture, the seed or the weight draw changes every number ever recorded
# with --features random: that must be a deliberate act, visible here.
PINNED_SHA256 = "26466b843395c50ee0f4d0ec0b5382f614d425076327b61ed7ef0272df517adb"


def test_weights_are_pinned():
    """NumPy's legacy stream is fixed across versions and processes: so is this hash."""
    assert weights_sha256(RandomEmbedding()) == PINNED_SHA256
    # Building it does not touch torch's random stream (training's seeds stay reproducible).
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    RandomEmbedding()
    assert torch.rand(1) == expected


def test_any_size_and_channel_count_embeds_to_512():
    network = feature_network("random", "folder")
    for shape in ((3, 1, 28, 28), (2, 3, 64, 64), (2, 3, 128, 128), (1, 3, 256, 256)):
        features, probabilities = network.extract(torch.rand(shape) * 2 - 1)
        assert features.shape == (shape[0], 512) and probabilities.shape == (shape[0], 0)
        assert torch.isfinite(features).all() and features.abs().sum() > 0
    gray = torch.rand(2, 1, 64, 64) * 2 - 1
    torch.testing.assert_close(network.extract(gray)[0], network.extract(gray.expand(-1, 3, -1, -1))[0])


@pytest.fixture(scope="module")
def mnist_halves():
    images = real_images("mnist", "train", 2000)
    return images[:1000], images[1000:]


def test_real_against_real_is_near_the_floor_and_a_constant_image_far_from_it(mnist_halves):
    real, _ = mnist_halves
    scores = evaluate(real, "mnist", ("fid", "pr", "dc"), ref_count=1000, features="random")
    constant = evaluate(torch.full((1000, 1, 28, 28), -0.5), "mnist", ("fid", "pr", "dc"),
                        ref_count=1000, features="random")
    assert scores["fid"] < 0.05 * constant["fid"]
    assert scores["precision"] > 0.6 and scores["recall"] > 0.6 and scores["coverage"] > 0.6
    assert constant["recall"] < 0.01 and constant["coverage"] < 0.01


def test_random_features_rank_a_worse_generator_worse(mnist_halves):
    """Noise of rising strength: FID in the random embedding rises monotonically."""
    real, _ = mnist_halves
    torch.manual_seed(0)
    noise = torch.randn_like(real)
    fids = [evaluate((real + strength * noise).clamp(-1, 1), "mnist", ("fid",), ref_count=1000,
                     features="random")["fid"] for strength in (0.0, 0.2, 0.5, 1.0)]
    assert fids == sorted(fids) and fids[-1] > 10 * fids[0]


def test_class_metrics_refuse_features_without_classes(mnist_halves):
    real, _ = mnist_halves
    with pytest.raises(GanforgeError, match="the classes metric reads a classifier's classes"):
        evaluate(real[:100], "mnist", ("classes",), ref_count=1000, features="random")
    unlabelled = ("fid", "kid", "pr", "dc", "spread", "memorization")
    assert defaults("random") == defaults("inception") == unlabelled
    assert defaults("digits") == ("fid", "kid", "pr", "dc", "cs", "classes", "modes", "spread")
    assert default_features("folder") == default_features("cifar10") == "random"

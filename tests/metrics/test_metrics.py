import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.data.sources import load_split
from ganforge.errors import DataError
from ganforge.metrics import evaluate, real_images
from ganforge.metrics.base import FeatureSet, MetricInputs
from ganforge.metrics.classes import class_histogram
from ganforge.metrics.classifier import accuracy
from ganforge.metrics.cs import classifier_score
from ganforge.metrics.dc import density_coverage
from ganforge.metrics.features import CLASSIFIERS, asset_path, extract, file_sha256, load_classifier
from ganforge.metrics.fid import frechet_distance, gaussian
from ganforge.metrics.kid import kid
from ganforge.metrics.memorization import memorization
from ganforge.metrics.pr import precision_recall


@pytest.fixture(scope="module")
def mnist_test():
    """Test images, labels and their features (computed once for the module)."""
    images = real_images("mnist", "test", 10_000)
    labels = torch.from_numpy(load_split("mnist", None, "test")[1])
    features, probabilities = extract(load_classifier("mnist"), images)
    return images, labels, features, probabilities


@pytest.mark.slow
@pytest.mark.parametrize("dataset", CLASSIFIERS.names())
def test_shipped_weights_match_their_pinned_sha256_and_recorded_accuracy(dataset):
    """The weights are the pinned ones, and they still score the test split as recorded."""
    shipped = CLASSIFIERS.get(dataset)
    assert file_sha256(asset_path(shipped.asset)) == shipped.sha256
    try:
        images, labels = load_split(dataset, None, "test")
    except DataError:
        pytest.skip(f"{dataset} is not on this machine (.ci/run installs it)")
    measured = accuracy(load_classifier(dataset), torch.from_numpy(images), torch.from_numpy(labels))
    assert measured == pytest.approx(shipped.test_accuracy, abs=1e-3)


def test_classifier_reads_mnist(mnist_test):
    _, labels, _, probabilities = mnist_test
    assert (probabilities.argmax(1) == labels).float().mean() > 0.99


def test_frechet_distance_matches_scipy_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    b = rng.normal(0.3, 1.5, size=(400, 8)) @ rng.normal(size=(8, 8))
    mean_a, cov_a = gaussian(a)
    mean_b, cov_b = gaussian(b)
    reference = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.trace(scipy.linalg.sqrtm(cov_a @ cov_b).real))
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(mean_a, cov_a, mean_a, cov_a) == pytest.approx(0, abs=1e-9)


def test_fid_rises_with_noise(mnist_test):
    images = mnist_test[0][:2000]
    torch.manual_seed(0)
    scores = [evaluate((images + level * torch.randn_like(images)).clamp(-1, 1), "mnist", ("fid",))
              ["fid"] for level in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert scores == sorted(scores) and scores[-1] > 10 * scores[0], scores


def test_metrics_do_not_depend_on_batch_size(mnist_test):
    images = mnist_test[0][:600]
    small, _ = extract(load_classifier("mnist"), images, batch_size=64)
    large, _ = extract(load_classifier("mnist"), images, batch_size=600)
    torch.testing.assert_close(small, large, atol=1e-4, rtol=1e-4)


def inputs_for(generated: torch.Tensor, reference: torch.Tensor, seed=0) -> MetricInputs:
    dummy = torch.zeros(len(generated), 10)
    return MetricInputs(FeatureSet(generated, dummy), FeatureSet(reference, dummy[:len(reference)]),
                        train=lambda: FeatureSet(reference, dummy), seed=seed)


def test_kid_is_near_zero_on_two_halves_and_positive_across_classes(mnist_test):
    _, labels, features, _ = mnist_test
    same = kid(inputs_for(features[:5000], features[5000:]))
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3
    different = kid(inputs_for(features[labels < 5], features[labels >= 5]))
    assert different["kid"] > 100 * abs(same["kid"])


def test_kid_with_few_samples_warns():
    features = torch.randn(50, 4)
    with pytest.warns(UserWarning, match="fewer than the usual subset size"):
        result = kid(inputs_for(features, features + 0.01))
    assert np.isfinite(result["kid"])


def test_precision_recall_identical_sets_and_mode_collapse(mnist_test):
    _, labels, features, _ = mnist_test
    real = features[:5000]
    assert precision_recall(real, real) == (1.0, 1.0)
    # A "generator" that only makes 0s, 1s and 2s: realistic images (precision stays high) that
    # cover a third of the data (recall drops). Swapping the arguments would swap the two.
    collapsed = features[5000:][labels[5000:] < 3]
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.8 and recall < 0.5


def test_density_coverage(mnist_test):
    _, labels, features, _ = mnist_test
    real = features[:4000]
    density, coverage = density_coverage(real, real)
    assert coverage == 1.0 and density > 0.9
    _, collapsed_coverage = density_coverage(real, features[4000:][labels[4000:] == 1])
    assert collapsed_coverage < 0.3


def test_classifier_score_bounds():
    confident = torch.eye(10).repeat(10, 1)
    assert classifier_score(confident) == pytest.approx(10, rel=1e-6)
    assert classifier_score(torch.full((20, 10), 0.1)) == pytest.approx(1.0)


def test_class_histogram_of_mnist_test_is_balanced(mnist_test):
    histogram = class_histogram(mnist_test[3])
    assert histogram.sum() == pytest.approx(1.0)
    assert (histogram >= 0.02).sum() == 10 and histogram.max() / histogram.min() < 1.5


def test_memorization_detects_copies(mnist_test):
    features = mnist_test[2]
    train, test = features[:3000], features[3000:4000]
    unseen = inputs_for(features[4000:5000], test)
    unseen.train = lambda: FeatureSet(train, torch.zeros(len(train), 10))
    assert 0.8 < memorization(unseen)["memorization"] < 1.25
    copies = inputs_for(train[:1000] + 1e-3, test)
    copies.train = unseen.train
    assert memorization(copies)["memorization"] < 0.1


def test_evaluate_reports_every_default_metric(mnist_test):
    results = evaluate(mnist_test[0][:1000], "mnist")
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "cs",
                "classes_covered", "class_ratio", "class_histogram"):
        assert key in results
    assert results["classes_covered"] == 10 and results["cs"] > 5

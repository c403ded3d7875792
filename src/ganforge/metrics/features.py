"""Feature networks, found by dataset name, with their shipped weights pinned by SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import torch

from ganforge.data.catalog import FEATURE_NETWORKS
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import Classifier
from ganforge.metrics.random_network import RandomEmbedding, weights_sha256
from ganforge.registry import Registry


@dataclass(frozen=True)
class ShippedClassifier:
    asset: str  # file under ganforge/metrics/assets
    sha256: str
    test_accuracy: float  # measured by `ganforge train-classifier` when the weights were made
    recipe: str  # the command that made them


CLASSIFIERS: Registry[ShippedClassifier] = Registry("feature network")
CLASSIFIERS.register("mnist", ShippedClassifier(
    "mnist.pt", "060a652e039868b3b2180fffcae58d8b7f012de41e7a2638a430611a0c9707ae", 0.9966,
    "ganforge train-classifier --dataset mnist --epochs 6 --device cuda (one H100)"))
CLASSIFIERS.register("fashion-mnist", ShippedClassifier(
    "fashion-mnist.pt", "fcde9a4db00713fb80efb2cf406ee07abe93733d9709a6bab303a3cdc7818cba", 0.9358,
    "ganforge train-classifier --dataset fashion-mnist --epochs 15 --device cuda (one H100)"))


def asset_path(name: str) -> Path:
    return Path(str(resources.files("ganforge.metrics").joinpath("assets", name)))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def load_classifier(dataset: str, device: str = "cpu") -> Classifier:
    """The shipped classifier for `dataset`, after checking its weights' SHA-256."""
    shipped = CLASSIFIERS.get(dataset)
    path = asset_path(shipped.asset)
    if not path.is_file() or file_sha256(path) != shipped.sha256:
        raise GanforgeError(
            f"the feature network weights {path} are missing or altered (SHA-256 mismatch); "
            "reinstall ganforge"
        )
    model = Classifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # NHWC memory: oneDNN's convolutions run faster in it (docs/performance.md).
    return model.to(device, memory_format=torch.channels_last).eval()


@torch.no_grad()
def extract(model: Classifier, images: torch.Tensor, batch_size: int = 500
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] (N, 1, 28, 28) -> features (N, 128) and class probabilities (N, classes)."""
    device = next(model.parameters()).device
    features, probabilities = [], []
    for batch in images.split(batch_size):
        batch_features, logits = model(batch.to(device, torch.float32, memory_format=torch.channels_last))
        features.append(batch_features.cpu())
        probabilities.append(logits.softmax(1).cpu())
    return torch.cat(features), torch.cat(probabilities)


# Datasets whose images are digits stacked as channels, and the dataset whose classifier reads
# each channel.
STACKED = {"stacked-mnist": "mnist"}


def extract_stacked(model: Classifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, 28, 28), a digit per channel -> the channels' features side by side
    (N, 128 C), and the probabilities of the digit combinations (N, 10^C), the outer product of
    the channels' class probabilities (its argmax is each channel's digit). Side by side, not
    averaged per channel: FID then also sees how G pairs the digits."""
    features, probabilities = zip(*(extract(model, images[:, channel:channel + 1])
                                    for channel in range(images.shape[1])))
    joint = probabilities[0]
    for channel in probabilities[1:]:
        joint = (joint[:, :, None] * channel[:, None, :]).flatten(1)
    return torch.cat(features, dim=1), joint


@dataclass(frozen=True)
class FeatureNetwork:
    key: str  # names the network and its weights' SHA-256: cached statistics are keyed by it
    extract: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    input_shape: tuple[int, int, int] | None = None  # (C, H, W) it takes; None: any (resized)


INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def inception_weights_path() -> Path:
    """Where torch-fidelity keeps its Inception weights (torch hub's checkpoint folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def _inception() -> FeatureNetwork:
    """Inception-v3 features through torch-fidelity, only from weights already on disk."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise GanforgeError("Inception features need the optional extra: "
                            "pip install 'ganforge[inception]'") from None
    path = inception_weights_path()
    if not path.is_file():
        raise GanforgeError(
            f"the Inception weights are not on disk ({path}) and ganforge does not download at "
            "evaluation time; place that file there, or drop --features inception to use the "
            "built-in digit features")
    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                          feature_extractor_weights_path=str(path)).eval()

    @torch.no_grad()
    def extract_inception(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, probabilities = [], []
        for batch in images.split(100):
            pixels = ((batch.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            if pixels.shape[1] == 1:
                pixels = pixels.expand(-1, 3, -1, -1)
            pool, logits = network(pixels)
            features.append(pool.cpu())
            probabilities.append(logits.softmax(1).cpu())
        return torch.cat(features), torch.cat(probabilities)

    return FeatureNetwork(f"inception-{file_sha256(path)[:16]}", extract_inception)


@cache
def _random() -> FeatureNetwork:
    """The fixed random embedding: any images, any dataset, nothing to download; no classes."""
    network = RandomEmbedding().to(memory_format=torch.channels_last)

    @torch.no_grad()
    def extract_random(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = [network(batch.float().contiguous(memory_format=torch.channels_last))
                    for batch in images.split(250)]
        return torch.cat(features), torch.empty(len(images), 0)

    return FeatureNetwork(f"random-{weights_sha256(network)[:16]}", extract_random)


def default_features(dataset: str) -> str:
    """The shipped classifier where one knows the dataset, else the random embedding."""
    return "digits" if dataset in CLASSIFIERS or dataset in STACKED else "random"


def feature_network(name: str | None, dataset: str) -> FeatureNetwork:
    """'digits': the shipped classifier of `dataset`; 'random': a fixed random embedding (any
    images, no classes); 'inception': Inception-v3 (optional extra); None: default_features."""
    name = name or default_features(dataset)
    if name == "inception":
        return _inception()
    if name == "random":
        return _random()
    if name != "digits":
        raise GanforgeError(f"unknown feature network {name!r}; choose one of "
                            f"{', '.join(FEATURE_NETWORKS)}")
    if dataset in STACKED:
        classifier = load_classifier(STACKED[dataset])
        return FeatureNetwork(f"{CLASSIFIERS.get(STACKED[dataset]).sha256}-nhwc-stacked3",
                              lambda images: extract_stacked(classifier, images), input_shape=(3, 28, 28))
    if dataset not in CLASSIFIERS:
        raise GanforgeError(
            f"no digit features for {dataset}: the shipped classifiers know "
            f"{', '.join(CLASSIFIERS.names())}; score {dataset} with --features random (a fixed "
            "random embedding, nothing to download) or --features inception")
    classifier = load_classifier(dataset)
    # The key names the weights and the memory layout: NHWC rounds differently (by ~1e-6), and
    # cached real features must come from the same arithmetic.
    return FeatureNetwork(f"{CLASSIFIERS.get(dataset).sha256}-nhwc",
                          lambda images: extract(classifier, images), input_shape=(1, 28, 28))

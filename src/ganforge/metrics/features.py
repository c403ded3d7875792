"""Feature networks, found by dataset name, with their shipped weights pinned by SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import Classifier
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
    return model.to(device).eval()


@torch.no_grad()
def extract(model: Classifier, images: torch.Tensor, batch_size: int = 500
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] (N, 1, 28, 28) -> features (N, 128) and class probabilities (N, classes)."""
    device = next(model.parameters()).device
    features, probabilities = [], []
    for batch in images.split(batch_size):
        batch_features, logits = model(batch.to(device, torch.float32))
        features.append(batch_features.cpu())
        probabilities.append(logits.softmax(1).cpu())
    return torch.cat(features), torch.cat(probabilities)

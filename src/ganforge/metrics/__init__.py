"""Quality metrics, computed offline on the shipped feature networks.

    evaluate(images, dataset="mnist", metrics=["fid", "kid"]) -> {"fid": ..., "kid": ...}

Each metric is a module registering one function in METRICS; real-image features are cached on
disk, keyed by dataset, split, count and the feature network's SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.atomic import written_atomically
from ganforge.data.sources import load_split
from ganforge.metrics import classes, cs, dc, fid, kid, memorization, pr, spread  # noqa: F401  (register)
from ganforge.metrics.base import METRICS, FeatureSet, MetricInputs
from ganforge.metrics.features import FeatureNetwork, feature_network

DEFAULT_METRICS = ("fid", "kid", "pr", "dc", "cs", "classes", "spread")


def cache_dir() -> Path:
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))


def real_images(dataset: str, split: str, count: int, data_dir: str | None = None) -> torch.Tensor:
    """`count` real images in [-1, 1]: a seeded subset when the split holds more."""
    images, _ = load_split(dataset, data_dir, split)
    if count < len(images):
        chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:count]
        images = images[chosen.numpy()]
    return torch.from_numpy(images).float() / 127.5 - 1


def reference_features(dataset: str, split: str, count: int, network: FeatureNetwork,
                       data_dir: str | None = None) -> FeatureSet:
    """Features of real images, read from the cache when the same network made them."""
    path = cache_dir() / f"{dataset}-{split}-{count}-{network.key[:32]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["network"]) == network.key:
                return FeatureSet(torch.from_numpy(cached["features"]),
                                  torch.from_numpy(cached["probabilities"]))
    features = network.extract(real_images(dataset, split, count, data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as partial:
        np.savez(partial, features=features[0].numpy(), probabilities=features[1].numpy(),
                 network=np.array(network.key))
    return FeatureSet(*features)


def evaluate(images: torch.Tensor, dataset: str = "mnist", metrics: tuple[str, ...] = DEFAULT_METRICS,
             ref: str = "test", ref_count: int = 10_000, seed: int = 0,
             data_dir: str | None = None, features: str = "digits") -> dict[str, Any]:
    """Score generated images in [-1, 1] (N, C, H, W) against real images of `dataset`."""
    chosen = [METRICS.get(name) for name in metrics]
    network = feature_network(features, dataset)
    inputs = MetricInputs(
        generated=FeatureSet(*network.extract(images)),
        reference=reference_features(dataset, ref, ref_count, network, data_dir),
        train=lambda: reference_features(dataset, "train", 60_000, network, data_dir),
        reference_split=ref,
        seed=seed,
    )
    results: dict[str, Any] = {"samples": len(images)}
    for metric in chosen:
        results.update(metric(inputs))
    return results

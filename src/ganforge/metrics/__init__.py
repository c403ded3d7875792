"""Quality metrics, computed offline on the shipped feature networks.

    evaluate(images, dataset="mnist", metrics=["fid", "kid"]) -> {"fid": ..., "kid": ...}
    evaluate(images, labels=labels)   # a conditional source: adds the "conditional" metrics

Each metric is a module of this package registering one function (metrics.base.register_metric);
real-image features are cached on disk, keyed by dataset, split, count and the feature
network's SHA-256.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.atomic import written_atomically
from ganforge.data.sources import load_data, load_split
from ganforge.errors import GanforgeError
from ganforge.metrics.base import (  # noqa: F401  (Key, register_metric: the public hook)
    METRICS,
    FeatureSet,
    Key,
    Metric,
    MetricInputs,
    register_metric,
)
from ganforge.metrics.features import FeatureNetwork, default_features, feature_network

# Every module of this package is imported, so each registers its metric: a new metric is its
# module alone (a forgotten import list cannot leave it out).
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def registered() -> list[Metric]:
    """Every metric, in table order (FID first)."""
    return sorted((METRICS.get(name) for name in METRICS.names()), key=lambda metric: metric.order)


def defaults(features: str) -> tuple[str, ...]:
    """The metrics `evaluate` computes for images scored in `features` ("digits" has classes)."""
    suits = "classes" if features == "digits" else "no classes"
    return tuple(metric.name for metric in registered() if metric.default in ("any", suits))


def training_metrics(features: str) -> tuple[str, ...]:
    """The metrics training's periodic evaluations compute."""
    return tuple(name for name in defaults(features) if METRICS.get(name).training)


def table_metrics(features: str) -> tuple[str, ...]:
    """The metrics a sweep computes for its results table."""
    return tuple(name for name in defaults(features) if METRICS.get(name).tables)


def result_keys(tables_only: bool = False) -> list[Key]:
    """The headline numbers of every metric (of the table metrics), in table order."""
    return [key for metric in registered() if metric.tables or not tables_only for key in metric.keys]


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers among `results`, in table order."""
    return {key.name: results[key.name] for key in result_keys() if key.name in results}


def cache_dir() -> Path:
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))


def real_images_and_labels(dataset: str, split: str, count: int, data_dir: str | None = None,
                           data: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` real images in [-1, 1] and their labels: a seeded subset when the split holds
    more. `data` (a DataConfig) for a folder dataset, whose "test" split is its held-out share."""
    if data is not None and data.name == "folder":
        images, labels = load_data(data, split)
    else:
        images, labels = load_split(dataset, data_dir, split)
    if count < len(images):
        chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:count].numpy()
        images, labels = images[chosen], labels[chosen]
    return torch.from_numpy(np.asarray(images)).float() / 127.5 - 1, torch.from_numpy(labels).long()


def real_images(dataset: str, split: str, count: int, data_dir: str | None = None,
                data: Any = None) -> torch.Tensor:
    return real_images_and_labels(dataset, split, count, data_dir, data)[0]


def folder_data(dataset: str, data: Any, data_dir: str | None, image_shape: torch.Size) -> Any:
    """The data config a folder's reference images come from: `data` as given, else the folder
    `data_dir` at the images' own size and channels."""
    if dataset != "folder" or data is not None:
        return data
    if not data_dir:
        raise GanforgeError("scoring against a folder dataset needs the folder: pass --data-dir "
                            "DIR (its held-out share, data.holdout, is the reference)")
    from ganforge.config import DataConfig

    return DataConfig(name="folder", path=data_dir, image_size=image_shape[-1],
                      channels=image_shape[0])


# Reference sets already read in this process, by cache file and network: a training run's
# evaluations share one (and its k-NN radii).
_LOADED: dict[tuple[Path, str, str | None], FeatureSet] = {}


def reference_features(dataset: str, split: str, count: int, network: FeatureNetwork,
                       data_dir: str | None = None, data: Any = None) -> FeatureSet:
    """Features of real images, read from the cache when the same network made them."""
    name = dataset
    if data is not None and data.name == "folder":
        from ganforge.data.folder import folder_fingerprint

        name = f"folder-{folder_fingerprint(data)}-holdout{data.holdout:g}"
    path = cache_dir() / f"{name}-{split}-{count}-{network.key[:32]}.npz"
    loaded = (path, network.key, data_dir)
    if loaded not in _LOADED:
        _LOADED[loaded] = _reference_features(path, dataset, split, count, network, data_dir, data)
    return _LOADED[loaded]


def _reference_features(path: Path, dataset: str, split: str, count: int, network: FeatureNetwork,
                        data_dir: str | None, data: Any) -> FeatureSet:
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            # (a cache file written before labels were kept is made again)
            if str(cached["network"]) == network.key and "labels" in cached.files:
                return FeatureSet(*(torch.from_numpy(cached[key])
                                    for key in ("features", "probabilities", "labels")))
    images, labels = real_images_and_labels(dataset, split, count, data_dir, data)
    features = network.extract(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as partial:
        np.savez(partial, features=features[0].numpy(), probabilities=features[1].numpy(),
                 labels=labels.numpy(), network=np.array(network.key))
    return FeatureSet(*features, labels)


def check_images(images: torch.Tensor, network: FeatureNetwork, dataset: str) -> None:
    """What the feature network cannot take, as one line naming the problem and the fix."""
    shape = tuple(images.shape[1:])
    if network.input_shape is not None and shape != network.input_shape:
        channels, height, width = network.input_shape
        raise GanforgeError(
            f"the {dataset} digit features take {channels} x {height} x {width} images, got "
            f"{' x '.join(map(str, shape))}; give {height} x {width} "
            f"{'grayscale' if channels == 1 else 'RGB'} images, or score other images with "
            "--features inception")
    finite = torch.isfinite(images).flatten(1).all(1)
    if not finite.all():
        raise GanforgeError(f"{int((~finite).sum()):,d} of {len(images):,d} images hold NaN or Inf "
                            "values; drop them, or re-sample from a generator that did not diverge")


def generated_features(images: torch.Tensor | Iterable[torch.Tensor], network: FeatureNetwork,
                       dataset: str) -> tuple[FeatureSet, torch.Size]:
    """Features of images given whole or in chunks (a chunk at a time is ever held), and the
    shape of one image."""
    features, probabilities, shape = [], [], torch.Size()
    for chunk in [images] if isinstance(images, torch.Tensor) else images:
        check_images(chunk, network, dataset)
        chunk_features, chunk_probabilities = network.extract(chunk)
        features.append(chunk_features)
        probabilities.append(chunk_probabilities)
        shape = chunk.shape[1:]
    count = sum(map(len, features))
    if count < 2:
        raise GanforgeError(f"{count} image(s) to score; the metrics compare distributions and "
                            "need at least 2 (10,000 for numbers comparable to ganforge's)")
    return FeatureSet(torch.cat(features), torch.cat(probabilities)), shape


def evaluate(images: torch.Tensor | Iterable[torch.Tensor], dataset: str = "mnist",
             metrics: tuple[str, ...] | None = None, ref: str = "test", ref_count: int = 10_000,
             seed: int = 0, data_dir: str | None = None, features: str | None = None,
             labels: torch.Tensor | None = None, data: Any = None) -> dict[str, Any]:
    """Score generated images in [-1, 1] (N, C, H, W, or an iterable of such chunks) against
    real images of `dataset`. `labels`, the class each image was drawn for, adds the
    "conditional" metrics (label accuracy, intra-class FID, per-class recall and spread).
    `features` None: the digit classifier where one knows the dataset, else the fixed random
    embedding; `metrics` None: the defaults for those features. A folder dataset is scored
    against its held-out share: `data` (its DataConfig) or `data_dir` (its path)."""
    metrics = defaults(features or default_features(dataset)) if metrics is None else metrics
    if labels is not None and "conditional" not in metrics:
        metrics = (*metrics, "conditional")
    chosen = [METRICS.get(name) for name in metrics]
    if "cas" in metrics and not isinstance(images, torch.Tensor):  # (it trains on them whole)
        images = torch.cat(list(images))
    network = feature_network(features, dataset)
    generated, image_shape = generated_features(images, network, dataset)
    data = folder_data(dataset, data, data_dir, image_shape)
    if labels is not None:
        if len(labels) != len(generated.features):
            raise GanforgeError(f"{len(labels)} labels for {len(generated.features)} images; give "
                                "one label per image")
        generated = FeatureSet(generated.features, generated.probabilities, labels.long().cpu())
    inputs = MetricInputs(
        generated=generated,
        reference=reference_features(dataset, ref, ref_count, network, data_dir, data),
        train=lambda: reference_features(dataset, "train", 60_000, network, data_dir, data),
        reference_split=ref,
        seed=seed,
        images=images.cpu() if isinstance(images, torch.Tensor) else None,
        real_test=None if dataset not in ("mnist", "fashion-mnist") else lambda: tuple(
            torch.from_numpy(np.asarray(array)) for array in load_split(dataset, data_dir, "test")),
    )
    results: dict[str, Any] = {"samples": len(generated.features)}
    for metric in chosen:
        results.update(metric(inputs))
    return results

"""One evaluation use-case: images from a run folder, checkpoint, export, array, folder of PNGs or
memory (or real images: the floor), scored by `metrics.evaluate` against their dataset; a run
keeps its result (eval.json, a metrics.jsonl record) and, when conditional, a sheet by class.

`ganforge evaluate`, `Run.evaluate` and sweep trials all come here, so a trial is measured and
kept exactly as `evaluate` measures and keeps a run. (Training's periodic evaluation scores the
images it draws in memory with `metrics.evaluate` and the training metrics.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import DataConfig
from ganforge.data.catalog import evaluate_samples
from ganforge.errors import ConfigError
from ganforge.generation import load
from ganforge.metrics import evaluate as score
from ganforge.metrics import real_images_and_labels
from ganforge.metrics.features import default_features
from ganforge.metrics.images import load_array, load_folder, to_model_range
from ganforge.models.layers import balanced_labels
from ganforge.runs import RunDir
from ganforge.runs.image_files import write_samples
from ganforge.sampling import PER_CLASS, by_class, generate_chunks

Metrics = Iterable[str] | Callable[[str], tuple[str, ...]] | None


def evaluate(source: Any = None, *, dataset: str | None = None, metrics: Metrics = None,
             n: int | None = None, ref: str = "test", seed: int = 0, features: str | None = None,
             data_dir: str | None = None, real: bool = False, labels: Any = None,
             conditional: bool = False) -> dict[str, Any]:
    """What `ganforge.evaluate` documents. `metrics`: names, None for the features' defaults,
    or a function of the feature network's name giving the names (sweeps: table_metrics)."""
    if n is not None and n < 2:
        raise ConfigError(f"n must be at least 2, got {n}")
    run_dir, data, sheet, drawn_for = None, None, None, None
    if real:
        dataset = dataset or "mnist"
        if dataset == "folder":
            if not data_dir:
                raise ConfigError("real=True with dataset folder needs the folder: data_dir=DIR "
                                  "(--data-dir)")
            data = DataConfig(name="folder", path=data_dir)
        images, real_labels = real_images_and_labels(dataset, "train", n or evaluate_samples(dataset),
                                                     data_dir, data)
        labels = real_labels if conditional else None
    elif source is None:
        raise ConfigError("evaluate needs a source (run folder, checkpoint, .npy/.npz, folder of "
                          "PNGs, or images) or real=True")
    elif isinstance(source, torch.Tensor | np.ndarray):
        images = to_model_range(np.asarray(source.detach().cpu() if isinstance(source, torch.Tensor)
                                           else source), Path("the images"))
        dataset = dataset or "mnist"
    elif Path(source).suffix in (".npy", ".npz"):
        images, dataset = load_array(Path(source)), dataset or "mnist"
    elif Path(source).is_dir() and not RunDir(Path(source)).exists():
        images, dataset = load_folder(Path(source)), dataset or "mnist"
    else:  # a generator: a run folder, checkpoint or export
        loaded = load(Path(source), data_dir=data_dir)
        dataset = dataset or loaded.card["dataset"] or "mnist"  # an export's sidecar may not say
        n = n or evaluate_samples(dataset)
        drawn_for = balanced_labels(n, loaded.module.num_classes)
        images = generate_chunks(loaded.module, n, seed=seed, labels=drawn_for)
        data = loaded.data
        if Path(source).is_dir():
            run_dir = RunDir(Path(source))
            sheet = loaded.module if drawn_for is not None else None
    if not real:
        labels = drawn_for if labels is None else torch.as_tensor(labels)
    if callable(metrics):
        metrics = metrics(features or default_features(dataset))
    results = {"dataset": dataset,
               **score(images, dataset, None if metrics is None else tuple(metrics), ref=ref,
                       seed=seed, data_dir=data_dir, features=features, labels=labels, data=data)}
    if run_dir is not None:
        run_dir.record_evaluation(results, ref)
        if sheet is not None:  # the report shows the classes side by side
            write_samples(*by_class(sheet, seed), run_dir.samples / "by-class.png", columns=PER_CLASS)
    return results

"""The Python API: what `import ganforge` offers, and what every `ganforge` command calls (one
short function per command; the work is done by the modules each one names).

    import ganforge
    run = ganforge.train("mnist-dcgan", epochs=3, out="runs/nb")   # a Run: the folder, readable
    run.grid(64)                                                   # a PIL image (inline in Jupyter)
    scores = run.evaluate(n=10_000)                                # FID, KID, precision, recall...
    g = ganforge.load_generator("runs/nb")                         # g(z), g.sample(64, seed=0)

Bad input raises `ConfigError` (or another `GanforgeError`) with the one-line message the CLI
prints, before anything is written. Heavy modules (torch and everything on it) are imported
inside the functions, so `import ganforge` and `ganforge --help` stay quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ganforge.api.run import Generator, Run, label_tensor, load_generator, path_of, run_folder
from ganforge.api.training import SHORTHANDS, dry_run, make_config
from ganforge.api.training import fit as _fit
from ganforge.api.training import fit_together as _fit_together
from ganforge.api.training import resume as _resume
from ganforge.config import (
    DEFAULT_PRESET,
    DEVICES,
    Config,
    Overrides,
    override_pairs,
    preset_names,
    preset_values,
    read_yaml,
)
from ganforge.data.catalog import DATASETS, FEATURE_NETWORKS, IDX_DATASETS, SPLIT_DATASETS
from ganforge.errors import ConfigError

__all__ = [
    "DATASETS", "DEFAULT_PRESET", "DEVICES", "FEATURE_NETWORKS", "IDX_DATASETS", "SHORTHANDS",
    "SPLIT_DATASETS", "Generator", "Run", "compare",
    "dry_run", "evaluate", "export", "export_dataset", "info", "interpolate", "load",
    "load_generator", "make_config", "metric_info", "presets", "register_loss", "register_metric",
    "register_model", "report", "resume", "save_samples", "serve", "show_data", "summary", "sweep",
    "train", "train_classifier", "train_together",
]


def presets() -> dict[str, str]:
    """Preset name -> its one-line description."""
    return {name: preset_values(name).get("description", "") for name in preset_names()}


def metric_info() -> dict[str, dict[str, Any]]:
    """Metric name -> what it reports (its keys, each with which way is better) and its roles."""
    from ganforge.metrics import registered

    return {metric.name: {"keys": {key.name: key.better for key in metric.keys},
                          "default": metric.default, "training": metric.training,
                          "tables": metric.tables} for metric in registered()}


def train(source: str | Path | Config = DEFAULT_PRESET, *, out: str | Path | None = None,
          overrides: Overrides = None, progress: bool = True, **shorthands: Any) -> Run:
    """Train a new run and return it. `source` is a preset name, a YAML config file or a Config;
    the run folder is `out` (default runs/NAME-TIMESTAMP). Shorthands: epochs, max_steps,
    max_minutes, max_images, batch_size, seed, device, data_dir, checkpoint_every.

    Ctrl-C (the notebook's interrupt button) stops after the current step with a checkpoint, and
    the Run is returned all the same (`run.interrupted` says so; `run.resume()` continues).

    >>> run = ganforge.train("mnist-dcgan", epochs=3, out="runs/nb")
    >>> run = ganforge.train("mnist-dcgan", max_minutes=2, overrides={"train.lr_d": 4e-4})
    """
    config = make_config(source, overrides=overrides, **shorthands)
    name = "run" if isinstance(source, Config) else Path(source).stem
    out = Path(out) if out is not None else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    trained = _fit(config, out=out, progress=progress)
    return Run(trained.root, stopped_by=trained.stopped_by, main_process=trained.main_process)


def resume(run: str | Path | Run, *, overrides: Overrides = None, force: bool = False,
           progress: bool = True, **shorthands: Any) -> Run:
    """Continue a run from its last checkpoint, exactly as if it had not stopped; raise
    `epochs`/`max_steps`/`max_minutes`/`max_images` to train further. Other changes mix two
    experiments and need `force=True`.

    >>> run = ganforge.resume("runs/nb", epochs=5)
    """
    trained = _resume(run_folder(run), force=force, progress=progress, overrides=overrides,
                      **shorthands)
    return Run(trained.root, stopped_by=trained.stopped_by, main_process=trained.main_process)


def train_together(runs: Iterable[tuple[str | Path | Config, str | Path]] | str | Path, *,
                   mode: str = "auto", overrides: Overrides = None, progress: bool = True,
                   **shorthands: Any) -> list[Run]:
    """Train several runs at once in one process, each a normal run folder: `runs` pairs a
    source (preset, config file or Config) with its folder, or is a YAML file listing them
    (`runs: [{config: FILE, out: DIR}, ...]`, what `ganforge sweep --together` writes); a
    folder with a checkpoint resumes.
    Runs whose steps have the same shapes (they differ in seed, learning rates, betas, label
    smoothing, EMA, augmentation) train as one stack (mode "stack"; "auto" on CUDA), the others
    in turns. `overrides` and the shorthands apply to every run.

    >>> configs = [ganforge.make_config("mnist-dcgan", seed=seed) for seed in range(4)]
    >>> runs = ganforge.train_together([(config, f"runs/seed{config.train.seed}")
    ...                                 for config in configs], max_images=60_000)
    """
    if isinstance(runs, str | Path):
        listed = read_yaml(Path(runs)).get("runs")
        if not isinstance(listed, list) or not all(isinstance(run, dict) and {"config", "out"} <= set(run)
                                                   for run in listed):
            raise ConfigError(f"{runs}: expected runs: [{{config: FILE, out: DIR}}, ...]")
        runs = [(run["config"], run["out"]) for run in listed]
    items = [(make_config(source, overrides=overrides, **shorthands), Path(out)) for source, out in runs]
    trained = _fit_together(items, mode=mode, progress=progress)
    return [Run(item.root, stopped_by=item.stopped_by, main_process=True) for item in trained]


def summary(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None) -> str:
    """The layer tables of G and D (shapes, parameters, multiply-accumulates) as text."""
    from ganforge.summary import model_summary

    return model_summary(make_config(source, overrides=overrides))


def load(run: str | Path) -> Run:
    """A run folder, to look at, sample, measure or continue."""
    return Run(run_folder(run).root)


def evaluate(source: Any = None, *, dataset: str | None = None, metrics: Iterable[str] | None = None,
             n: int | None = None, ref: str = "test", seed: int = 0, features: str | None = None,
             data_dir: str | Path | None = None, real: bool = False, labels: Any = None,
             conditional: bool = False) -> dict[str, Any]:
    """Measure quality against real images: FID, KID, precision/recall, density/coverage,
    classes covered (or `metrics`: `ganforge.metric_info()` lists them); the dict also names the
    dataset and the number of samples (`n`, default 10,000; 26,000 on Stacked MNIST, as papers
    count its modes). `source` is a run folder or Run (its evaluation is kept
    in eval.json), a checkpoint or export (`n` samples are drawn), a .npy/.npz file, a folder of
    PNGs, or images in memory (a NumPy array or tensor: uint8, or float in [0, 1] or [-1, 1];
    N x H x W, N x C x H x W or N x H x W x C). `real=True` scores real training images
    instead: the floor every number is read against.

    `features`: "digits" (the shipped classifier; the default where one knows the dataset),
    "random" (a fixed random embedding that needs no download; the default for folders and
    CIFAR-10, with memorization and no class metrics) or "inception". A folder dataset is
    scored against its held-out share (`data_dir` names the folder when the source does not).

    A conditional generator draws an equal number of each class and the conditional metrics are
    added: label_accuracy, intra_fid, per-class recall and spread (class_recall, class_spread).
    For images in memory, `labels` (the class each was drawn for) does the same; with
    `real=True`, `conditional=True` gives those metrics' real-vs-real floor.

    >>> ganforge.evaluate(images, dataset="mnist")["fid"]
    >>> ganforge.evaluate("runs/art", features="random")["precision"]
    """
    from ganforge.evaluation import evaluate as evaluate_source

    return evaluate_source(path_of(source) if isinstance(source, str | Path | Run) else source,
                           dataset=dataset, metrics=metrics, n=n, ref=ref, seed=seed,
                           features=features, data_dir=None if data_dir is None else str(data_dir),
                           real=real, labels=labels, conditional=conditional)


def export(source: str | Path | Run, format: str = "onnx", *, out: str | Path | None = None,
           ema: bool = True) -> Path:
    """Write the generator as TorchScript, ONNX or safetensors (with a JSON sidecar beside it,
    OUT.json, naming the format and the model card); returns the file's path. Default file:
    RUN/export/generator.ts|.onnx|.safetensors."""
    from ganforge.generation import export_generator

    return export_generator(path_of(source), format, None if out is None else Path(out), ema)


def export_dataset(dataset: str = "mnist", out: str | Path = "mnist-png", *, size: int | None = None,
                   split: str = "train", limit: int = 0, data_dir: str | Path | None = None) -> str:
    """Write a dataset's split as a folder of PNG files, resized to `size` px (default: as it
    is): data whose truth is known, to train and score folder runs on. Returns what was written."""
    from ganforge.data.export import split_images
    from ganforge.runs.image_files import write_samples

    chunks, count = split_images(dataset, size=size, split=split, limit=limit,
                                 data_dir=None if data_dir is None else str(data_dir))
    return write_samples(chunks, count, Path(out))


def save_samples(source: str | Path | Run, out: str | Path, *, n: int = 64, seed: int = 0,
                 label: int | None = None, grid_by_class: bool = False, ema: bool = True) -> str:
    """Write `n` samples to `out`: FILE.png a grid, FILE.gif frames, FILE.npy a uint8 array
    (N, C, H, W), anything else a folder of PNGs; written in chunks, so any `n` fits in memory.
    `grid_by_class`: one row of 10 per class. Returns what was written, in words."""
    from ganforge.runs.image_files import write_samples
    from ganforge.sampling import PER_CLASS, by_class, generate_chunks

    generator = load_generator(source, ema=ema)
    if grid_by_class:
        if not generator.num_classes:
            raise ConfigError("a grid by class needs a conditional model")
        return write_samples(*by_class(generator.module, seed), Path(out), columns=PER_CLASS)
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    labels = label_tensor(label, n, generator.num_classes)
    return write_samples(generate_chunks(generator.module, n, seed, labels=labels), n, Path(out))


def interpolate(source: str | Path | Run, out: str | Path, *, steps: int = 10, seed: int = 0,
                seed2: int = 1, label: int | None = None, ema: bool = True) -> str:
    """A walk along the latent sphere from seed's z to seed2's, `steps` images as a row (.png) or
    an animation (.gif); a conditional model holds `label` (default 0). Returns what was written."""
    from ganforge.runs.image_files import write_images
    from ganforge.sampling import latent_walk

    out = Path(out)
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, got {steps}")
    if out.suffix not in (".png", ".gif"):
        raise ConfigError(f"out must end in .png or .gif, got {out}")
    generator = load_generator(source, ema=ema)
    labels = label_tensor(0 if label is None and generator.num_classes else label, steps,
                          generator.num_classes)
    return write_images(latent_walk(generator.module, steps, seed, seed2, labels), out, columns=steps)


def show_data(source: str | Path | Config = DEFAULT_PRESET, out: str | Path = "data.png", *,
              n: int = 64, compare: str | Path | None = None, data_dir: str | Path | None = None,
              overrides: Overrides = None) -> str:
    """A grid of a real batch exactly as training sees it (scaled, augmented); with `compare`
    (a run or checkpoint), its generated images beside it. Returns what was written."""
    from ganforge.api.preview import show_data as preview

    return preview(source, out, n=n, compare=compare, data_dir=data_dir, overrides=overrides)


def info(run: str | Path | Run) -> str:
    """A run's resolved config and its last metrics record, as text."""
    import json

    folder = run_folder(run)
    records = folder.read_metrics()
    return "\n".join([folder.config_path.read_text().rstrip(),
                      f"last metrics: {json.dumps(records[-1]) if records else 'none yet'}"])


def report(runs: str | Path | Run | Iterable[str | Path | Run], *, out: str | Path | None = None) -> Path:
    """One run's HTML report (RUN/report.html), or a page comparing runs and sweeps (`out`,
    default SWEEP/report.html for one sweep folder, else comparison.html). Returns its path."""
    from ganforge.report import report_for

    paths = [path_of(item) for item in ([runs] if isinstance(runs, str | Path | Run) else runs)]
    return report_for(paths, None if out is None else Path(out))


def compare(runs: Iterable[str | Path | Run]) -> str:
    """The comparison table of runs (and the runs in sweep folders), best FID first, as text."""
    from ganforge.report import compare_table

    return compare_table([path_of(item) for item in runs])


def serve(source: str | Path | Run, *, host: str = "127.0.0.1", port: int = 7860, ema: bool = True):
    """The sampling web page's server (not yet serving: call `.serve_forever()`)."""
    from ganforge.serve import make_server

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535 (0 picks a free one), got {port}")
    return make_server(path_of(source), host, port, ema=ema)


def sweep(spec: str | Path, *, out: str | Path | None = None, jobs: int = 1, search: str | None = None,
          trials: int = 20, storage: str | None = None, study: str | None = None, seed: int = 0,
          device: str | None = None, data_dir: str | Path | None = None,
          overrides: Overrides = None, together: str | None = None) -> Path:
    """Train a grid or list of configs (or an Optuna search, `search="optuna"`), each a run in
    OUT/trials/, then write OUT/results.md and OUT/report.html; returns OUT. `together`
    ("auto", "stack" or "turns"): every run at once in one process (see `train_together`)."""
    from ganforge.sweep import run_sweep

    spec = Path(spec)
    out = Path(out) if out is not None else \
        Path("sweeps-out") / f"{spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    return run_sweep(spec, out, jobs=jobs, search=search, trials=trials, storage=storage,
                     study=study, seed=seed, device=device,
                     data_dir=None if data_dir is None else str(data_dir),
                     extra=override_pairs(overrides), together=together)


def train_classifier(dataset: str = "mnist", out: str | Path = "classifier.pt", *, epochs: int = 6,
                     seed: int = 0, device: str = "auto", data_dir: str | Path | None = None) -> str:
    """Train the digit (or clothes) classifier behind the offline metrics; returns its test
    accuracy and checksum in words."""
    from ganforge.metrics.classifier import train_on_dataset
    from ganforge.metrics.features import file_sha256
    from ganforge.runs.checkpoint import save
    from ganforge.training.setup import resolve_device

    weights, test_accuracy = train_on_dataset(dataset, epochs=epochs, seed=seed,
                                              device=resolve_device(device),
                                              data_dir=None if data_dir is None else str(data_dir))
    save(weights, Path(out))
    return f"{dataset} classifier: test accuracy {test_accuracy:.4%}; wrote {out} " \
           f"(sha256 {file_sha256(Path(out))})"


def register_metric(name: str, *, keys: list[tuple[str, str, str]], default: str = "never",
                    training: bool = False, tables: bool = False) -> Callable:
    """Decorate `compute(inputs) -> dict` to add a metric from your own script: `keys` are
    (result key, display name, "lower" or "higher" better). It then appears in `evaluate`,
    eval records (`training=True`), reports and tables (`tables=True`)."""
    from ganforge.metrics.base import register_metric as register

    return register(name, keys=keys, default=default, training=training, tables=tables)


def register_loss(name: str, *, discriminator: Callable, generator: Callable,
                  realness: Callable | None = None) -> None:
    """Add a loss (`loss.name: NAME`): D's and G's loss functions, as in ganforge.losses, and
    `realness` (a logit -> the probability logged as D(x); default sigmoid)."""
    import torch

    from ganforge.losses import LOSSES, GanLoss

    LOSSES.register(name, GanLoss(discriminator, generator, realness or torch.sigmoid))


def register_model(name: str, *, generator: type, discriminator: type, image_sizes: tuple[int, ...],
                   description: str = "", conditional: bool = True) -> None:
    """Add a model family (`model.name: NAME`): torch.nn classes taking the arguments the
    registry's others take (see ganforge.models)."""
    from ganforge.models import MODELS, ModelFamily

    MODELS.register(name, ModelFamily(generator, discriminator, tuple(image_sizes), description,
                                      conditional=conditional))

"""The Python API: what `import ganforge` offers, and what every `ganforge` command calls.

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

import base64
import html
import logging
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganforge.config import (
    RESUMABLE_KEYS,
    Config,
    apply_overrides,
    changed_keys,
    config_from_dict,
    dump_yaml,
    parse_override,
    preset_names,
    preset_values,
    read_yaml,
)
from ganforge.errors import ConfigError, GanforgeError

if TYPE_CHECKING:
    import torch
    from PIL import Image

logger = logging.getLogger("ganforge")

# Keyword shorthands of `train` and `resume` (and the CLI's flags): each names one config key.
SHORTHANDS = {
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "max_minutes": "train.max_minutes",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.device",
    "data_dir": "data.path",
    "checkpoint_every": "train.checkpoint_every",
}

DEFAULT_PRESET = "mnist-dcgan"

Overrides = Mapping[str, Any] | Iterable[str] | Iterable[tuple[str, Any]] | None


def presets() -> dict[str, str]:
    """Preset name -> its one-line description.

    >>> ganforge.presets()["mnist-dcgan"]
    'DCGAN on MNIST: ...'
    """
    return {name: preset_values(name).get("description", "") for name in preset_names()}


def _override_pairs(overrides: Overrides) -> list[tuple[str, Any]]:
    """{"train.lr_d": 4e-4}, ["train.lr_d=4e-4"] or [("train.lr_d", 4e-4)] -> (key, value) pairs."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a dict or a list of KEY=VALUE texts, got the text "
                          f"{overrides!r}; write [{overrides!r}]")
    return [parse_override(item) if isinstance(item, str) else tuple(item) for item in overrides]


def _shorthand_pairs(shorthands: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(SHORTHANDS[name], value) for name, value in shorthands.items() if value is not None]


def _is_config_file(source: str | Path) -> bool:
    """A YAML file rather than a preset name."""
    return isinstance(source, Path) or str(source).endswith((".yaml", ".yml")) or Path(source).is_file()


def _source_values(source: str | Path | Config) -> dict[str, Any]:
    if isinstance(source, Config):
        return source.to_dict()
    return read_yaml(Path(source)) if _is_config_file(source) else preset_values(source)


def make_config(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None,
                **shorthands: Any) -> Config:
    """A validated Config from a preset name, a YAML file or a Config, then `overrides` (any
    dotted key), then the shorthands (`epochs=3`, `device="cpu"`, ...).

    >>> ganforge.make_config("mnist-dcgan", epochs=3, overrides={"train.lr_d": 4e-4}).train.lr_d
    0.0004
    """
    unknown = sorted(set(shorthands) - set(SHORTHANDS))
    if unknown:
        raise TypeError(f"unknown keyword {unknown[0]!r}; the shorthands are {', '.join(SHORTHANDS)} "
                        "(any other key goes in overrides={'section.key': value})")
    pairs = _override_pairs(overrides) + _shorthand_pairs(shorthands)
    return config_from_dict(apply_overrides(_source_values(source), pairs))


def _run_name(source: str | Path | Config) -> str:
    if isinstance(source, Config):
        return "run"
    return Path(source).stem if _is_config_file(source) else str(source)


def _log(line: str) -> None:
    """A line for the person watching: the console (above a progress bar) and logger "ganforge"."""
    from tqdm.auto import tqdm

    tqdm.write(line)
    logger.info(line)


def train(source: str | Path | Config = DEFAULT_PRESET, *, out: str | Path | None = None,
          epochs: int | None = None, max_steps: int | None = None, max_minutes: float | None = None,
          batch_size: int | None = None, seed: int | None = None, device: str | None = None,
          data_dir: str | Path | None = None, checkpoint_every: int | None = None,
          overrides: Overrides = None, progress: bool = True) -> Run:
    """Train a new run and return it. `source` is a preset name, a YAML config file or a Config;
    the run folder is `out` (default runs/NAME-TIMESTAMP).

    Ctrl-C (the notebook's interrupt button) stops after the current step with a checkpoint, and
    the Run is returned all the same (`run.interrupted` says so; `run.resume()` continues).

    >>> run = ganforge.train("mnist-dcgan", epochs=3, out="runs/nb")
    >>> run = ganforge.train("mnist-dcgan", max_minutes=2, device="cpu",
    ...                      overrides={"train.lr_d": 4e-4})
    """
    config = make_config(source, overrides=overrides, epochs=epochs, max_steps=max_steps,
                         max_minutes=max_minutes, batch_size=batch_size, seed=seed, device=device,
                         data_dir=None if data_dir is None else str(data_dir),
                         checkpoint_every=checkpoint_every)
    default_out = Path("runs") / f"{_run_name(source)}-{time.strftime('%Y%m%d-%H%M%S')}"
    return _fit(config, out=Path(out) if out is not None else default_out, progress=progress)


def resume(run: str | Path | Run, *, epochs: int | None = None, max_steps: int | None = None,
           max_minutes: float | None = None, batch_size: int | None = None, seed: int | None = None,
           device: str | None = None, data_dir: str | Path | None = None,
           checkpoint_every: int | None = None, overrides: Overrides = None, force: bool = False,
           progress: bool = True) -> Run:
    """Continue a run from its last checkpoint, exactly as if it had not stopped; raise
    `epochs`/`max_steps`/`max_minutes` to train further. Other changes mix two experiments and
    need `force=True`.

    >>> run = ganforge.resume("runs/nb", epochs=5)
    """
    folder = _run_folder(run)
    saved = config_from_dict(read_yaml(folder.config_path))
    pairs = _override_pairs(overrides) + _shorthand_pairs(dict(
        epochs=epochs, max_steps=max_steps, max_minutes=max_minutes, batch_size=batch_size,
        seed=seed, device=device, data_dir=None if data_dir is None else str(data_dir),
        checkpoint_every=checkpoint_every))
    config = config_from_dict(apply_overrides(saved.to_dict(), pairs))
    changed = [key for key in changed_keys(saved, config) if key not in RESUMABLE_KEYS]
    if changed and not force:
        raise ConfigError(f"resuming with a different config ({', '.join(changed)} changed) would "
                          "mix two experiments; drop those overrides, or force it (--force, or "
                          "force=True in Python)")
    return _fit(config, out=folder.root, progress=progress, resuming=config != saved)


def _fit(config: Config, *, out: Path, progress: bool, resuming: bool | None = None) -> Run:
    """Build the trainer (every check), then start or resume the run folder `out` and train.
    `resuming` is None for a new run, else whether the config changed."""
    from ganforge.runs import RunDir, checkpoint
    from ganforge.training.distributed import ranks_from_environment, stop
    from ganforge.training.trainer import Trainer

    ranks = ranks_from_environment()
    try:
        trainer = Trainer.from_config(config, ranks)
        # Every rank must agree on the folder, and only rank 0 writes it.
        run_dir = RunDir(ranks.broadcast(out))
        step = 0
        if resuming is not None and run_dir.last_checkpoint.is_file():
            # (a run killed before its first checkpoint restarts from step 0)
            step = trainer.restore(checkpoint.load(run_dir.last_checkpoint),
                                   str(run_dir.last_checkpoint))
        if ranks.main:
            if resuming is None:
                trainer.start(run_dir)
                _log(f"ganforge: training {config.model.name} on {config.data.name} "
                     f"({trainer.total_steps} steps on {trainer.device}); run folder {run_dir.root}")
            else:
                run_dir.make_folders()
                if resuming:
                    run_dir.write_config(dump_yaml(config))
                _log(f"ganforge: resuming {run_dir.root} at step {step} of {trainer.total_steps}")
            _say_distributed(trainer)
        outcome = trainer.fit(run_dir, log=_log, progress=progress)
    finally:
        stop()
    return Run(run_dir.root, stopped_by=outcome.signal_number, main_process=ranks.main)


def _say_distributed(trainer) -> None:
    ranks, train_config, cuda = trainer.ranks, trainer.config.train, trainer.device.type == "cuda"
    if ranks.active:
        _log(f"ganforge: {ranks.world_size} processes ({'nccl' if cuda else 'gloo'}), batch "
             f"{train_config.batch_size} per process = {train_config.batch_size * ranks.world_size} "
             "per step; learning rates as configured (not scaled); gradients averaged over processes"
             f"{'; SyncBatchNorm' if train_config.sync_batch_norm and cuda else ''}")


def dry_run(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None,
            **shorthands: Any) -> str:
    """Everything `train` checks, plus one forward/backward step on a small batch; nothing is
    written. Returns the resolved config and the model tables."""
    import torch

    from ganforge.summary import model_summary
    from ganforge.training.step import train_step
    from ganforge.training.trainer import Trainer

    config = make_config(source, overrides=overrides, **shorthands)
    trainer = Trainer.from_config(config)
    real_images, labels = next(trainer.batches.epoch(0))
    count = min(8, len(real_images))
    z = torch.randn(count, config.model.z_dim, device=trainer.device)
    stats = train_step(trainer.gan, real_images[:count], z,
                       labels[:count] if trainer.gan.generator.num_classes else None)
    if not torch.isfinite(stats).all():
        raise GanforgeError("dry run: the first step produced NaN/Inf; check the learning rates")
    return "\n".join([dump_yaml(config).rstrip(), model_summary(config),
                      f"ganforge: dry run passed on {trainer.device} (data verified, models built, "
                      "one forward/backward step); nothing was written"])


def summary(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None) -> str:
    """The layer tables of G and D (shapes, parameters, multiply-accumulates) as text."""
    from ganforge.summary import model_summary

    return model_summary(make_config(source, overrides=overrides))


def _run_folder(run: str | Path | Run):
    from ganforge.runs import RunDir

    folder = RunDir(run.root if isinstance(run, Run) else run)
    if not folder.exists():
        raise GanforgeError(f"{folder.root} is not a ganforge run folder (no config.yaml); "
                            "pass the folder a 'ganforge train' run created")
    return folder


def load(run: str | Path) -> Run:
    """A run folder, to look at, sample, measure or continue.

    >>> run = ganforge.load("runs/nb")
    >>> run.metrics()[-1]["loss_d"]
    """
    return Run(_run_folder(run).root)


def _label_tensor(label: int | None, count: int, num_classes: int):
    """`label` for every image, or None (every class in turn, for a conditional generator)."""
    import torch

    if label is None:
        return None
    if not num_classes:
        raise ConfigError("a label needs a conditional model (this generator ignores labels)")
    if not 0 <= label < num_classes:
        raise ConfigError(f"label must be in 0..{num_classes - 1}, got {label}")
    return torch.full((count,), label)


class Generator:
    """A generator ready to draw: `g(z, labels=None)` gives float images in [-1, 1] (N, C, H, W);
    `g.sample(n, seed=0)` uint8 images. From a run, a checkpoint or any export, built without the
    training config.

    >>> g = ganforge.load_generator("runs/nb/export/generator.onnx")
    >>> g.sample(16, seed=0).shape
    torch.Size([16, 1, 28, 28])
    """

    def __init__(self, module, source: Path):
        self.module, self.source = module, source
        self.z_dim, self.num_classes = module.z_dim, module.num_classes

    def __call__(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        import torch

        device = next(self.module.parameters(), torch.empty(0)).device
        with torch.no_grad():
            return self.module(z.to(device), None if labels is None else labels.to(device)).cpu()

    def images(self, n: int, *, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """`n` float images in [-1, 1]; image k is the same for any `n` (one class in turn for a
        conditional generator, or `label`)."""
        from ganforge.generation import generate

        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        return generate(self.module, n, seed, labels=_label_tensor(label, n, self.num_classes))

    def sample(self, n: int = 64, *, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """`n` uint8 images (N, C, H, W); `label=7` draws only 7s from a conditional model."""
        from ganforge.runs.images import to_uint8

        return to_uint8(self.images(n, seed=seed, label=label))

    def grid(self, n: int = 64, *, seed: int = 0, label: int | None = None,
             columns: int | None = None) -> Image.Image:
        """`n` samples as one PIL image (shown inline in Jupyter)."""
        from PIL import Image

        from ganforge.runs.images import image_grid

        return Image.fromarray(image_grid(self.images(n, seed=seed, label=label), columns=columns))

    def __repr__(self) -> str:
        kind = f"conditional, {self.num_classes} classes" if self.num_classes else "unconditional"
        return f"Generator({str(self.source)!r}, z {self.z_dim}, {kind})"


def load_generator(source: str | Path | Run, *, device: str = "cpu", ema: bool = True) -> Generator:
    """The generator of a run folder, a checkpoint, or an exported .ts/.onnx/.safetensors file;
    its EMA weights when the run kept them (unless `ema=False`).

    >>> g = ganforge.load_generator("runs/nb")
    >>> images = g(torch.randn(8, g.z_dim))          # float, [-1, 1]
    """
    from ganforge.generation import load_generator as load_module

    path = Path(source.root if isinstance(source, Run) else source)
    return Generator(load_module(path, device=device, ema=ema), path)


def evaluate(source: Any = None, *, dataset: str | None = None, metrics: Iterable[str] | None = None,
             n: int = 10_000, ref: str = "test", seed: int = 0, features: str | None = None,
             data_dir: str | Path | None = None, real: bool = False, labels: Any = None,
             conditional: bool = False) -> dict[str, Any]:
    """Measure quality against real images: FID, KID, precision/recall, density/coverage,
    classes covered (or `metrics`); the dict also names the dataset and the number of samples.
    `source` is a run folder or Run (its evaluation is kept in eval.json), a checkpoint or export
    (`n` samples are drawn), a .npy/.npz file, a folder of PNGs, or images in memory (a NumPy
    array or tensor: uint8, or float in [0, 1] or [-1, 1]; N x H x W, N x C x H x W or
    N x H x W x C). `real=True` scores real training images instead: the floor every number is
    read against.

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
    import torch

    from ganforge.config import DataConfig
    from ganforge.metrics import evaluate as score
    from ganforge.metrics import real_images_and_labels

    chosen = tuple(metrics) if metrics is not None else None
    data_dir = None if data_dir is None else str(data_dir)
    if n < 2:
        raise ConfigError(f"n must be at least 2, got {n}")
    run_dir, data = None, None
    if real:
        dataset = dataset or "mnist"
        if dataset == "folder":
            if not data_dir:
                raise ConfigError("real=True with dataset folder needs the folder: data_dir=DIR "
                                  "(--data-dir)")
            data = DataConfig(name="folder", path=data_dir)
        images, real_labels = real_images_and_labels(dataset, "train", n, data_dir, data)
        labels = real_labels if conditional else None
    elif source is None:
        raise ConfigError("evaluate needs a source (run folder, checkpoint, .npy/.npz, folder of "
                          "PNGs, or images) or real=True")
    else:
        images, drawn_for, found, run_dir, data = _images_to_score(source, n, seed, data_dir)
        dataset = dataset or found
        labels = drawn_for if labels is None else torch.as_tensor(labels)
    results = {"dataset": dataset,
               **score(images, dataset, chosen, ref=ref, seed=seed, data_dir=data_dir,
                       features=features, labels=labels, data=data)}
    if run_dir is not None:
        run_dir.record_evaluation(results, ref)
        if labels is not None:  # the report shows the classes side by side
            save_samples(run_dir.root, run_dir.samples / "by-class.png", seed=seed, grid_by_class=True)
    return results


def _images_to_score(source: Any, n: int, seed: int, data_dir: str | None
                     ) -> tuple[Any, Any, str, Any, Any]:
    """(images in [-1, 1] or chunks of them, the labels they were drawn for or None, the dataset
    they claim, the run folder or None, the training data config when a checkpoint names one)."""
    import numpy as np
    import torch

    from ganforge.generation import sample_checkpoint, training_data
    from ganforge.metrics.images import load_array, load_folder, to_model_range
    from ganforge.runs import RunDir

    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
    if isinstance(source, np.ndarray):
        return to_model_range(source, Path("the images")), None, "mnist", None, None
    path = Path(source.root if isinstance(source, Run) else source)
    if path.suffix in (".npy", ".npz"):
        return load_array(path), None, "mnist", None, None
    if path.is_dir() and not RunDir(path).exists():
        return load_folder(path), None, "mnist", None, None
    images, labels, dataset = sample_checkpoint(path, n, seed)
    return images, labels, dataset, RunDir(path) if path.is_dir() else None, \
        training_data(path, data_dir)


def export(source: str | Path | Run, format: str = "onnx", *, out: str | Path | None = None,
           ema: bool = True) -> Path:
    """Write the generator as TorchScript, ONNX or safetensors (with a JSON sidecar beside it,
    OUT.json, naming the format and the model card); returns the file's path. Default file:
    RUN/export/generator.ts|.onnx|.safetensors.

    >>> path = ganforge.export("runs/nb", "onnx")
    >>> ganforge.load_generator(path).sample(8)
    """
    from ganforge.export import FORMATS
    from ganforge.export import export as write_export
    from ganforge.generation import checkpoint_path, load_generator, model_card, run_folder_of
    from ganforge.runs import checkpoint

    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    source = Path(source.root if isinstance(source, Run) else source)
    path = checkpoint_path(source)
    spec = checkpoint.load(path)["generator"]
    out = Path(out) if out is not None else run_folder_of(path) / "export" / f"generator{FORMATS[format]}"
    generator = load_generator(source, ema=ema)
    write_export(generator, {"name": spec["name"], "kwargs": spec["kwargs"]}, format, out,
                 model_card(source, ema=ema))
    return out


def export_dataset(dataset: str = "mnist", out: str | Path = "mnist-png", *, size: int | None = None,
                   split: str = "train", limit: int = 0, data_dir: str | Path | None = None) -> str:
    """Write a dataset's split as a folder of PNG files, resized to `size` px (default: as it
    is): data whose truth is known, to train and score folder runs on. Returns what was written.

    >>> ganforge.export_dataset("mnist", "mnist64", size=64)
    """
    import torch
    import torch.nn.functional as F

    from ganforge.data.sources import load_split
    from ganforge.generation import write_samples

    if split not in ("train", "test"):
        raise ConfigError(f"split must be train or test, got {split!r}")
    if size is not None and not 8 <= size <= 1024:
        raise ConfigError(f"size must be between 8 and 1024 px, got {size}")
    images, _ = load_split(dataset, None if data_dir is None else str(data_dir), split)
    images = images[:limit] if limit else images

    def chunks():
        for start in range(0, len(images), 1000):
            chunk = torch.from_numpy(images[start:start + 1000]).float() / 127.5 - 1
            if size is not None and size != chunk.shape[-1]:
                chunk = F.interpolate(chunk, size=(size, size), mode="bicubic", antialias=True,
                                      align_corners=False).clamp(-1, 1)
            yield chunk

    return write_samples(chunks(), len(images), Path(out))


def save_samples(source: str | Path | Run, out: str | Path, *, n: int = 64, seed: int = 0,
                 label: int | None = None, grid_by_class: bool = False, ema: bool = True) -> str:
    """Write `n` samples to `out`: FILE.png a grid, FILE.gif frames, FILE.npy a uint8 array
    (N, C, H, W), anything else a folder of PNGs; written in chunks, so any `n` fits in memory.
    `grid_by_class`: one row of 10 per class. Returns what was written, in words."""
    import torch

    from ganforge.generation import generate_chunks, write_samples

    out = Path(out)
    generator = load_generator(source, ema=ema)
    if grid_by_class:
        if not generator.num_classes:
            raise ConfigError("a grid by class needs a conditional model")
        per_class = 10
        labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
        return write_samples(generate_chunks(generator.module, len(labels), seed, labels=labels),
                             len(labels), out, columns=per_class)
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    labels = _label_tensor(label, n, generator.num_classes)
    return write_samples(generate_chunks(generator.module, n, seed, labels=labels), n, out)


def interpolate(source: str | Path | Run, out: str | Path, *, steps: int = 10, seed: int = 0,
                seed2: int = 1, label: int | None = None, ema: bool = True) -> str:
    """A walk along the latent sphere from seed's z to seed2's, `steps` images as a row (.png) or
    an animation (.gif); a conditional model holds `label` (default 0). Returns what was written."""
    import torch

    from ganforge.generation import generate, slerp, write_images

    out = Path(out)
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, got {steps}")
    if out.suffix not in (".png", ".gif"):
        raise ConfigError(f"out must end in .png or .gif, got {out}")
    generator = load_generator(source, ema=ema)
    ends = [torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(value))
            for value in (seed, seed2)]
    z = slerp(*ends, torch.linspace(0, 1, steps)[:, None])
    labels = _label_tensor(0 if label is None and generator.num_classes else label, steps,
                           generator.num_classes)
    return write_images(generate(generator.module, steps, labels=labels, z=z), out, columns=steps)


def show_data(source: str | Path | Config = DEFAULT_PRESET, out: str | Path = "data.png", *,
              n: int = 64, compare: str | Path | None = None, data_dir: str | Path | None = None,
              overrides: Overrides = None) -> str:
    """A grid of a real batch exactly as training sees it (scaled, augmented); with `compare`
    (a run or checkpoint), its generated images beside it. Returns what was written."""
    import numpy as np
    import torch
    from PIL import Image

    from ganforge.runs.images import image_grid
    from ganforge.training.trainer import Trainer

    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    out = Path(out)
    config = make_config(source, overrides=overrides,
                         data_dir=None if data_dir is None else str(data_dir))
    trainer = Trainer.from_config(config)
    torch.manual_seed(config.train.seed)  # the same augmentation draw every time
    real_images, _ = next(trainer.batches.epoch(0))
    real_images = real_images[:n].cpu()
    if config.data.scale == "unit":  # show [0, 1] reals as they look, on the grid's [-1, 1] scale
        real_images = real_images * 2 - 1
    grid = image_grid(real_images)
    if compare is not None:
        generated = load_generator(compare).images(len(real_images), seed=config.train.seed)
        spacer = np.full((grid.shape[0], 8, 3), 255, dtype=np.uint8)
        grid = np.concatenate([grid, spacer, image_grid(generated)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    if compare is not None:
        return f"wrote real (left) and generated (right) images to {out}"
    return f"wrote {len(real_images)} training images, as the model sees them, to {out}"


def info(run: str | Path | Run) -> str:
    """A run's resolved config and its last metrics record, as text."""
    import json

    folder = _run_folder(run)
    records = folder.read_metrics()
    return "\n".join([folder.config_path.read_text().rstrip(),
                      f"last metrics: {json.dumps(records[-1]) if records else 'none yet'}"])


def report(runs: str | Path | Run | Iterable[str | Path | Run], *, out: str | Path | None = None) -> Path:
    """One run's HTML report (RUN/report.html), or a page comparing runs and sweeps (`out`,
    default SWEEP/report.html for one sweep folder, else comparison.html). Returns its path."""
    from ganforge.report import comparison_report, run_report
    from ganforge.runs import RunDir

    paths = [Path(item.root if isinstance(item, Run) else item)
             for item in ([runs] if isinstance(runs, str | Path | Run) else runs)]
    if len(paths) == 1 and RunDir(paths[0]).config_path.is_file():
        return run_report(paths[0])
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder; give run or sweep folders")
    out = Path(out) if out is not None else \
        paths[0] / "report.html" if len(paths) == 1 else Path("comparison.html")
    return comparison_report(paths, out)


def compare(runs: Iterable[str | Path | Run]) -> str:
    """The comparison table of runs (and the runs in sweep folders), best FID first, as text."""
    from ganforge.report import compare_table

    return compare_table([Path(item.root if isinstance(item, Run) else item) for item in runs])


def serve(source: str | Path | Run, *, host: str = "127.0.0.1", port: int = 7860, ema: bool = True):
    """The sampling web page's server (not yet serving: call `.serve_forever()`)."""
    from ganforge.serve import make_server

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535 (0 picks a free one), got {port}")
    return make_server(Path(source.root if isinstance(source, Run) else source), host, port, ema=ema)


def sweep(spec: str | Path, *, out: str | Path | None = None, jobs: int = 1, search: str | None = None,
          trials: int = 20, storage: str | None = None, study: str | None = None, seed: int = 0,
          device: str | None = None, data_dir: str | Path | None = None,
          overrides: Overrides = None) -> Path:
    """Train a grid or list of configs (or an Optuna search, `search="optuna"`), each a run in
    OUT/trials/, then write OUT/results.md and OUT/report.html; returns OUT."""
    from ganforge.report import comparison_report
    from ganforge.sweep import load_spec, run_grid, run_search

    spec = Path(spec)
    loaded = load_spec(spec)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    out = Path(out) if out is not None else \
        Path("sweeps-out") / f"{spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    extra = _override_pairs(overrides)
    data_dir = None if data_dir is None else str(data_dir)
    if search == "optuna":
        if trials < 1:
            raise ConfigError(f"trials must be at least 1, got {trials}")
        run_search(loaded, out, trials, storage, study, device, data_dir, extra, seed)
    elif search is not None:
        raise ConfigError(f"unknown search {search!r}; the one there is: optuna")
    else:
        run_grid(loaded, out, jobs, device, data_dir, extra)
    comparison_report([out], out / "report.html")
    return out


def train_classifier(dataset: str = "mnist", out: str | Path = "classifier.pt", *, epochs: int = 6,
                     seed: int = 0, device: str = "auto", data_dir: str | Path | None = None) -> str:
    """Train the digit (or clothes) classifier behind the offline metrics; returns its test
    accuracy and checksum in words."""
    import torch

    from ganforge.data.sources import load_split
    from ganforge.metrics.classifier import accuracy, fit
    from ganforge.metrics.features import file_sha256
    from ganforge.runs.checkpoint import save
    from ganforge.training.setup import resolve_device

    out = Path(out)
    where = resolve_device(device)
    splits = {split: [torch.from_numpy(part).to(where)
                      for part in load_split(dataset, None if data_dir is None else str(data_dir), split)]
              for split in ("train", "test")}
    model = fit(*splits["train"], epochs=epochs, seed=seed)
    test_accuracy = accuracy(model, *splits["test"])
    save({name: tensor.cpu() for name, tensor in model.state_dict().items()}, out)
    return f"{dataset} classifier: test accuracy {test_accuracy:.4%}; wrote {out} " \
           f"(sha256 {file_sha256(out)})"


class Run:
    """A run folder, read from its files: what training left and what can be done with it.

    >>> run = ganforge.load("runs/nb")
    >>> run.sample(64, seed=0)        # uint8 (N, C, H, W); label=7 for a conditional model
    >>> run.grid(64)                  # a PIL image
    >>> run.evaluate(n=10_000)        # dict, as `ganforge evaluate --json`; kept in eval.json
    >>> run.metrics("eval")           # metrics.jsonl records of one event kind
    >>> run.report()                  # writes report.html, returns its path
    """

    def __init__(self, root: str | Path, *, stopped_by: int | None = None, main_process: bool = True):
        from ganforge.runs import RunDir

        self.root = Path(root)
        self.folder = RunDir(self.root)
        # The signal that stopped `train` early, if one did (None after a complete or timed run).
        self.stopped_by = stopped_by
        # False in the other processes of a torchrun run: rank 0 alone writes and speaks.
        self.main_process = main_process
        self._generators: dict[tuple[bool, float], Generator] = {}

    @property
    def interrupted(self) -> str | None:
        """"SIGINT" or "SIGTERM" when a signal stopped the training that returned this Run."""
        return None if self.stopped_by is None else signal.Signals(self.stopped_by).name

    @property
    def config(self) -> Config:
        return config_from_dict(read_yaml(self.folder.config_path))

    @property
    def step(self) -> int:
        """The last step logged (the checkpoint holds the same step at every epoch end or stop)."""
        epochs = self.folder.epochs()
        return epochs[-1]["step"] if epochs else 0

    @property
    def fid(self) -> float | None:
        """The run's best-known FID: its last `evaluate`, else its last evaluation in training."""
        return self.folder.fid()[0]

    def metrics(self, event: str = "epoch") -> list[dict[str, Any]]:
        """metrics.jsonl's records of one kind: "epoch" (default), "interval", "eval" (during
        training), "evaluate" (`run.evaluate`), or None for all."""
        return self.folder.read_metrics(event)

    def grids(self) -> list[Path]:
        """The grid image from the fixed noise after every epoch, oldest first."""
        return self.folder.grids()

    def generator(self, *, ema: bool = True) -> Generator:
        """The run's generator from its last checkpoint (loaded again when a newer one lands)."""
        checkpoint = self.folder.last_checkpoint
        key = (ema, checkpoint.stat().st_mtime if checkpoint.is_file() else 0.0)
        if key not in self._generators:
            self._generators = {key: load_generator(self.root, ema=ema)}
        return self._generators[key]

    def sample(self, n: int = 64, *, seed: int = 0, label: int | None = None,
               ema: bool = True) -> torch.Tensor:
        """`n` uint8 images (N, C, H, W); the same seed gives the same images."""
        return self.generator(ema=ema).sample(n, seed=seed, label=label)

    def grid(self, n: int = 64, *, seed: int = 0, label: int | None = None,
             columns: int | None = None, ema: bool = True) -> Image.Image:
        """`n` samples as one PIL image, shown inline in Jupyter."""
        return self.generator(ema=ema).grid(n, seed=seed, label=label, columns=columns)

    def evaluate(self, n: int = 10_000, *, metrics: Iterable[str] | None = None, ref: str = "test",
                 seed: int = 0, data_dir: str | Path | None = None) -> dict[str, Any]:
        """Score `n` samples against the run's dataset; kept in eval.json and the report."""
        return evaluate(self.root, n=n, metrics=metrics, ref=ref, seed=seed, data_dir=data_dir)

    def report(self) -> Path:
        """Write RUN/report.html (curves, grids, evaluation) and return its path."""
        return report(self.root)

    def export(self, format: str = "onnx", *, out: str | Path | None = None, ema: bool = True) -> Path:
        """The generator as TorchScript, ONNX or safetensors; returns the file's path."""
        return export(self.root, format, out=out, ema=ema)

    def resume(self, **kwargs: Any) -> Run:
        """`ganforge.resume(this run, **kwargs)`."""
        return resume(self.root, **kwargs)

    def _status(self) -> str:
        if self.interrupted:
            return f"interrupted by {self.interrupted} at step {self.step}; continue with run.resume()"
        return f"step {self.step}"

    def __repr__(self) -> str:
        fid = self.fid
        return f"Run({str(self.root)!r}, {self._status()}{'' if fid is None else f', FID {fid:.2f}'})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the last grid, the per-epoch table, the FID and the folder."""
        parts = [f"<p><b>ganforge run</b> <code>{html.escape(str(self.root))}</code> — "
                 f"{html.escape(self._status())}</p>"]
        grid = self.folder.last_grid()
        if grid is not None:
            data = base64.b64encode(grid.read_bytes()).decode()
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(grid.name)}" '
                         'style="image-rendering: pixelated; width: 320px">')
        evaluations = {record["epoch"]: record for record in self.metrics("eval")}
        rows = ["<tr><th>epoch</th><th>loss D</th><th>loss G</th><th>D(x)</th><th>D(G(z))</th>"
                "<th>img/s</th><th>FID</th></tr>"]
        for record in self.metrics("epoch"):
            fid = evaluations.get(record["epoch"], {}).get("fid")
            rows.append(f"<tr><td>{record['epoch']}{'' if record['complete'] else ' (part)'}</td>"
                        f"<td>{record['loss_d']:.3f}</td><td>{record['loss_g']:.3f}</td>"
                        f"<td>{record['d_real']:.3f}</td><td>{record['d_fake']:.3f}</td>"
                        f"<td>{record['images_per_s']:.0f}</td>"
                        f"<td>{'' if fid is None else f'{fid:.2f}'}</td></tr>")
        parts.append(f"<table>{''.join(rows)}</table>")
        fid, fid_from = self.folder.fid()
        if fid is not None:
            parts.append(f"<p>FID {fid:.2f} ({html.escape(fid_from)})</p>")
        return "\n".join(parts)

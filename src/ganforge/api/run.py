"""What a notebook holds: a Run (a run folder, read from its files) and a Generator (ready to
draw). Both are thin: they read the folder, and call the use-cases the API calls."""

from __future__ import annotations

import base64
import html
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganforge.config import Config, config_from_dict, read_yaml
from ganforge.errors import ConfigError, GanforgeError

if TYPE_CHECKING:
    import torch
    from PIL import Image


def run_folder(run: str | Path | Run):
    """The RunDir of a run folder (or Run), or a one-line error when it is not one."""
    from ganforge.runs import RunDir

    folder = RunDir(run.root if isinstance(run, Run) else run)
    if not folder.exists():
        raise GanforgeError(f"{folder.root} is not a ganforge run folder (no config.yaml); "
                            "pass the folder a 'ganforge train' run created")
    return folder


def path_of(source: str | Path | Run) -> Path:
    return Path(source.root if isinstance(source, Run) else source)


def label_tensor(label: int | None, count: int, num_classes: int):
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
        from ganforge.sampling import generate

        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        return generate(self.module, n, seed, labels=label_tensor(label, n, self.num_classes))

    def sample(self, n: int = 64, *, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """`n` uint8 images (N, C, H, W); `label=7` draws only 7s from a conditional model."""
        from ganforge.metrics.images import to_uint8

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

    path = path_of(source)
    return Generator(load_module(path, device=device, ema=ema), path)


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

    def evaluate(self, n: int | None = None, *, metrics: Iterable[str] | None = None, ref: str = "test",
                 seed: int = 0, data_dir: str | Path | None = None) -> dict[str, Any]:
        """Score `n` samples against the run's dataset; kept in eval.json and the report."""
        from ganforge.evaluation import evaluate

        return evaluate(self.root, n=n, metrics=metrics, ref=ref, seed=seed,
                        data_dir=None if data_dir is None else str(data_dir))

    def report(self) -> Path:
        """Write RUN/report.html (curves, grids, evaluation) and return its path."""
        from ganforge.report import run_report

        return run_report(self.root)

    def export(self, format: str = "onnx", *, out: str | Path | None = None, ema: bool = True) -> Path:
        """The generator as TorchScript, ONNX or safetensors; returns the file's path."""
        from ganforge.generation import export_generator

        return export_generator(self.root, format, None if out is None else Path(out), ema)

    def resume(self, **kwargs: Any) -> Run:
        """`ganforge.resume(this run, **kwargs)`."""
        from ganforge.api.training import resume

        trained = resume(run_folder(self), **{"force": False, "progress": True, **kwargs})
        return Run(trained.root, stopped_by=trained.stopped_by, main_process=trained.main_process)

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

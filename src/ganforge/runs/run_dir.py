"""The run folder: a person can read everything a run leaves behind.

    config.yaml          the resolved config, written before the first step
    metrics.jsonl        one JSON object per line: epoch records, later evaluations and events
    tensorboard/         TensorBoard event files (scalars and sample grids)
    samples/epoch-0001.png   a grid from the fixed noise after every epoch
    checkpoints/last.pt  everything needed to resume or sample
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganforge.atomic import write_text_atomic
from ganforge.errors import GanforgeError
from ganforge.runs.images import image_grid, save_grid_png
from ganforge.runs.records import table_summary


class RunDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.metrics_path = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"
        self.last_checkpoint = self.checkpoints / "last.pt"
        self.tensorboard_dir = self.root / "tensorboard"
        self.evaluation_path = self.root / "eval.json"  # the last `ganforge evaluate` of the run
        self._board = None

    def create(self) -> None:
        """Make a new, empty run folder; never reuse one that holds anything."""
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise GanforgeError(
                f"{self.root} already exists and is not empty; pass --resume {self.root} to "
                "continue that run, or choose another --out"
            )
        self.make_folders()

    def make_folders(self) -> None:
        """The run folder and its sub-folders (a run killed early may lack some)."""
        try:
            for folder in (self.root, self.samples, self.checkpoints):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GanforgeError(
                f"cannot create run folder {self.root}: {error.strerror}; choose another --out"
            ) from None

    def exists(self) -> bool:
        return self.config_path.is_file()

    def write_config(self, config_yaml: str) -> None:
        write_text_atomic(self.config_path, config_yaml)

    def append_metrics(self, record: dict[str, Any]) -> None:
        # One write call per record, opened in append mode: a kill can at worst tear the last line.
        with self.metrics_path.open("a") as file:
            file.write(json.dumps(record) + "\n")

    def read_metrics(self, event: str | None = None) -> list[dict[str, Any]]:
        """metrics.jsonl's records, in order; only those of one `event` ("epoch", "eval"...)
        when given."""
        if not self.metrics_path.is_file():
            return []
        records = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write; the records around it are whole
        return [record for record in records if event is None or record.get("event") == event]

    def epochs(self) -> list[dict[str, Any]]:
        """The per-epoch records (also one for an epoch a stop cut short: "complete" false)."""
        return self.read_metrics("epoch")

    def intervals(self) -> list[dict[str, Any]]:
        """The records every train.log_every steps (averages, gradient norms, learning rates)."""
        return self.read_metrics("interval")

    def evaluations(self) -> list[dict[str, Any]]:
        """The evaluations during training ("eval" records: fid, classes, spread, precision...)."""
        return self.read_metrics("eval")

    def evaluation(self) -> dict[str, Any]:
        """The last `ganforge evaluate` of the run (eval.json), or {} when it has none."""
        if not self.evaluation_path.is_file():
            return {}
        return json.loads(self.evaluation_path.read_text())

    def record_evaluation(self, results: dict[str, Any], ref: str) -> dict[str, Any]:
        """Keep an evaluation with the run: a metrics.jsonl record and eval.json."""
        record = {"event": "evaluate", "ref": ref, **results}
        self.append_metrics(record)
        write_text_atomic(self.evaluation_path, json.dumps(record, indent=2) + "\n")
        return record

    def fid(self) -> tuple[float | None, str | None]:
        """The run's best-known FID and where it comes from: `ganforge evaluate` (eval.json)
        first, else the last evaluation during training."""
        evaluated = self.evaluation().get("fid")
        if evaluated is not None:
            return evaluated, "ganforge evaluate"
        evaluations = self.evaluations()
        if evaluations:
            return evaluations[-1]["fid"], "evaluation during training"
        return None, None

    def summary(self) -> dict[str, Any]:
        """One comparison-table row of the run, from its files: epochs, the table metrics'
        numbers (`ganforge evaluate`; FID else from the last evaluation during training), the
        last losses, minutes trained and mean images/s."""
        epochs = self.epochs()
        last = epochs[-1] if epochs else {}
        return {
            "epochs": last.get("epoch", 0), **table_summary(self.evaluation()), "fid": self.fid()[0],
            "loss_d": last.get("loss_d"), "loss_g": last.get("loss_g"),
            "minutes": sum(record["seconds"] for record in epochs) / 60 if epochs else None,
            "images_per_s": sum(record["images_per_s"] for record in epochs) / len(epochs)
            if epochs else None,
        }

    def grids(self) -> list[Path]:
        """The per-epoch sample grids, oldest first."""
        return sorted(self.samples.glob("epoch-*.png"))

    def last_grid(self) -> Path | None:
        grids = self.grids()
        return grids[-1] if grids else None

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch-{epoch:04d}.png"

    def save_grid(self, images: torch.Tensor, epoch: int, step: int) -> Path:
        path = self.sample_path(epoch)
        grid = save_grid_png(images, path)
        self.board.add_image("samples", grid, step, dataformats="HWC")
        return path

    def log_real_grid(self, images: torch.Tensor) -> None:
        """Real images in [-1, 1], once, beside the samples in TensorBoard."""
        self.board.add_image("real", image_grid(images), 0, dataformats="HWC")

    def log_scalars(self, record: dict[str, Any], step: int) -> None:
        for name, value in record.items():
            if isinstance(value, float):
                self.board.add_scalar(name, value, step)
        self.board.flush()

    @property
    def board(self):
        if self._board is None:
            # Imported on first use: TensorBoard takes a second to import and `sample` never needs it.
            from torch.utils.tensorboard import SummaryWriter

            self._board = SummaryWriter(str(self.tensorboard_dir))
        return self._board

    def close(self) -> None:
        if self._board is not None:
            self._board.close()
            self._board = None


def by_fid(row: dict[str, Any]) -> tuple[bool, float]:
    """Sort key of summary rows: lowest FID first, rows without one last."""
    return row.get("fid") is None, row.get("fid") or 0.0

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

import numpy as np
import torch
from PIL import Image

from ganforge.atomic import write_text_atomic
from ganforge.errors import GanforgeError


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255]."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def image_grid(images: torch.Tensor, padding: int = 2, columns: int | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> one about-square uint8 grid (H, W, 3).

    Written here rather than taken from torchvision.utils: importing torchvision costs two
    seconds on every command.
    """
    pixels = to_uint8(images)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    count, channels, height, width = pixels.shape
    columns = columns or max(1, round(count ** 0.5))
    rows = -(-count // columns)
    grid = torch.zeros(channels, rows * (height + padding) + padding,
                       columns * (width + padding) + padding, dtype=torch.uint8)
    for index, image in enumerate(pixels):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[:, top:top + height, left:left + width] = image
    return grid.permute(1, 2, 0).numpy()


def save_grid_png(images: torch.Tensor, path: Path, columns: int | None = None) -> np.ndarray:
    grid = image_grid(images, columns=columns)
    Image.fromarray(grid).save(path)
    return grid


class RunDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.metrics_path = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"
        self.last_checkpoint = self.checkpoints / "last.pt"
        self.tensorboard_dir = self.root / "tensorboard"
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

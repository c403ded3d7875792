"""The data preview: a real batch exactly as training sees it (scaled, augmented), optionally
beside a generator's images."""

from __future__ import annotations

from pathlib import Path

from ganforge.api.run import load_generator
from ganforge.api.training import make_config
from ganforge.config import DEFAULT_PRESET, Config, Overrides
from ganforge.errors import ConfigError


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



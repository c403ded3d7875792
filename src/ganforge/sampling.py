"""Generators rebuilt from checkpoints alone, and images written as a grid, an array or files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganforge.errors import CheckpointError, GanforgeError
from ganforge.models import MODELS, build_generator
from ganforge.training import checkpoint
from ganforge.training.run_dir import RunDir, save_grid_png, to_uint8


def checkpoint_path(source: Path) -> Path:
    """A run folder means its last checkpoint; anything else is taken as a checkpoint file."""
    if source.is_dir():
        path = RunDir(source).last_checkpoint
        if not path.is_file():
            raise CheckpointError(f"{source} has no checkpoint yet ({path} is missing)")
        return path
    return source


def load_generator(source: Path, device: str | torch.device = "cpu") -> nn.Module:
    """The generator of a run folder or checkpoint, in eval mode, built without the training config."""
    path = checkpoint_path(source)
    spec = checkpoint.load(path)["generator"]
    if spec.get("name") not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model {spec.get('name')!r}")
    generator = build_generator(spec["name"], **spec["kwargs"])
    try:
        generator.load_state_dict(spec["state_dict"])
    except RuntimeError:
        raise CheckpointError(f"{path}: the generator weights do not fit model {spec['name']!r}") \
            from None
    return generator.to(device).eval()


@torch.no_grad()
def generate(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """`count` images in [-1, 1] on the CPU; the same seed gives the same images on any device."""
    noise_rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    z = torch.randn(count, generator.z_dim, generator=noise_rng)
    chunks = [generator(part.to(device)).cpu() for part in z.split(batch_size)]
    return torch.cat(chunks)


def write_images(images: torch.Tensor, out: Path) -> str:
    """'.png': one grid; '.npy': uint8 (N, C, H, W); otherwise a folder of PNGs. Returns a summary."""
    if out.suffix == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        save_grid_png(images, out)
        return f"wrote a grid of {len(images)} images to {out}"
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, to_uint8(images).numpy())
        return f"wrote {len(images)} images as a uint8 array {tuple(images.shape)} to {out}"
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"{out} exists and is not a folder; give a .png, .npy or folder path")
    out.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(images).permute(0, 2, 3, 1).numpy()
    for index, image in enumerate(pixels):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
            out / f"{index:05d}.png")
    return f"wrote {len(images)} PNG files to {out}/"

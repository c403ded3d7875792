"""Generators rebuilt from checkpoints alone, and images written as a grid, an array or files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganforge.atomic import write_text_atomic
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.export import SUFFIXES, load_exported, read_sidecar, sidecar_path
from ganforge.models import MODELS, build_generator
from ganforge.models.layers import balanced_labels
from ganforge.training import checkpoint
from ganforge.training.run_dir import RunDir, image_grid, save_grid_png, to_uint8


def checkpoint_path(source: Path) -> Path:
    """A run folder means its last checkpoint; anything else is taken as a checkpoint file."""
    if source.is_dir():
        path = RunDir(source).last_checkpoint
        if not path.is_file():
            raise CheckpointError(f"{source} has no checkpoint yet ({path} is missing)")
        return path
    return source


def load_generator(source: Path, device: str | torch.device = "cpu", ema: bool = True) -> nn.Module:
    """The generator of a run folder, checkpoint or exported file, in eval mode, built without
    the training config; its EMA weights when the run kept them (and `ema`)."""
    if source.suffix in SUFFIXES:
        return load_exported(source)
    path = checkpoint_path(source)
    state = checkpoint.load(path)
    spec = state["generator"]
    if spec.get("name") not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model {spec.get('name')!r}")
    generator = build_generator(spec["name"], **spec["kwargs"])
    weights = state["generator_ema"] if ema and "generator_ema" in state else spec
    try:
        generator.load_state_dict(weights["state_dict"])
    except RuntimeError:
        raise CheckpointError(f"{path}: the generator weights do not fit model {spec['name']!r}") \
            from None
    # NHWC memory: the convolutions run faster (10,000 dcgan28 samples: 3.0 s -> 2.3 s on 2 cores).
    return generator.to(device, memory_format=torch.channels_last).eval()


def model_card(source: Path, ema: bool = True) -> dict[str, Any]:
    """What a person wants to know about a generator: where it came from, how long it trained,
    how good it measured. Read from files only (checkpoint, run folder, or export sidecar)."""
    if source.suffix in SUFFIXES:
        sidecar = read_sidecar(source) if sidecar_path(source).is_file() else {}
        return {key: sidecar.get(key) for key in CARD_KEYS} | {"source": str(source)}
    path = checkpoint_path(source)
    state = checkpoint.load(path)
    config = state["config"]
    run_dir = RunDir(path.parent.parent if path.parent.name == "checkpoints" else path.parent)
    records = run_dir.read_metrics()
    epochs = [record for record in records if record.get("event") == "epoch"]
    fid, fid_from = None, None
    evaluated = run_dir.root / "eval.json"
    if evaluated.is_file():
        fid, fid_from = json.loads(evaluated.read_text()).get("fid"), "ganforge evaluate"
    else:
        evals = [record for record in records if record.get("event") == "eval"]
        if evals:
            fid, fid_from = evals[-1]["fid"], "evaluation during training"
    return {
        "source": str(source), "description": config.get("description", ""),
        "dataset": config["data"]["name"], "model": state["generator"]["name"],
        "conditional": bool(state["generator"]["kwargs"].get("num_classes")),
        "step": state["step"], "epoch": epochs[-1]["epoch"] if epochs else 0,
        "ema": ema and "generator_ema" in state, "fid": fid, "fid_from": fid_from,
        "ganforge_version": state["ganforge_version"],
    }


CARD_KEYS = ("description", "dataset", "model", "conditional", "step", "epoch", "ema", "fid",
             "fid_from", "ganforge_version")


@torch.no_grad()
def generate(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000,
             labels: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """`count` images in [-1, 1] on the CPU; the same seed gives the same images on any device.

    A conditional generator draws `labels` (default: every class in turn).
    """
    device = next(generator.parameters(), torch.empty(0)).device  # ONNX generators: no parameters
    if z is None:
        z = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    if labels is None:
        labels = balanced_labels(count, generator.num_classes)
    label_parts = labels.split(batch_size) if labels is not None else [None] * len(z.split(batch_size))
    chunks = [generator(part.to(device), None if part_labels is None else part_labels.to(device)).cpu()
              for part, part_labels in zip(z.split(batch_size), label_parts)]
    return torch.cat(chunks)


def slerp(start: torch.Tensor, end: torch.Tensor, weights: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation from `start` to `end` (vectors or rows of vectors) at `weights`
    (0 gives start, 1 gives end; broadcast, e.g. shape (steps, 1) for a walk of `steps` points)."""
    weights = torch.as_tensor(weights, dtype=start.dtype)
    cosine = (start / start.norm(dim=-1, keepdim=True) * end / end.norm(dim=-1, keepdim=True)) \
        .sum(dim=-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cosine)
    straight = (1 - weights) * start + weights * end
    curved = (torch.sin((1 - weights) * omega) * start + torch.sin(weights * omega) * end) \
        / torch.sin(omega).clamp_min(1e-12)
    return torch.where(omega.abs() < 1e-6, straight, curved)


def write_images(images: torch.Tensor, out: Path, columns: int | None = None) -> str:
    """'.png': one grid; '.gif': one frame per image; '.npy': uint8 (N, C, H, W); otherwise a
    folder of PNGs. Returns a summary."""
    if out.suffix == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        save_grid_png(images, out, columns)
        return f"wrote a grid of {len(images)} images to {out}"
    if out.suffix == ".gif":
        out.parent.mkdir(parents=True, exist_ok=True)
        frames = [Image.fromarray(image_grid(image[None], padding=0)) for image in images]
        frames[0].save(out, save_all=True, append_images=frames[1:] + frames[-2:0:-1],
                       duration=120, loop=0)
        return f"wrote an animation of {len(images)} frames to {out}"
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


def sample_checkpoint(source: Path, count: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """`count` images from a run folder's (or checkpoint's) generator, and its dataset's name."""
    path = checkpoint_path(source)
    return generate(load_generator(path), count, seed=seed), \
        checkpoint.load(path)["config"]["data"]["name"]


def record_evaluation(run_dir: RunDir, results: dict[str, Any], ref: str) -> dict[str, Any]:
    """Keep an evaluation of a run with the run: a metrics.jsonl record and eval.json."""
    record = {"event": "evaluate", "ref": ref, **results}
    run_dir.append_metrics(record)
    write_text_atomic(run_dir.root / "eval.json", json.dumps(record, indent=2) + "\n")
    return record


def evaluate_run(run: Path, count: int, metrics: tuple[str, ...], ref: str = "test", seed: int = 0,
                 data_dir: str | None = None) -> dict[str, Any]:
    """Sample a run folder's generator and score it against its dataset; recorded with the run."""
    from ganforge.metrics import evaluate

    images, dataset = sample_checkpoint(run, count, seed)
    results = evaluate(images, dataset, metrics, ref=ref, seed=seed, data_dir=data_dir)
    return record_evaluation(RunDir(run), results, ref)

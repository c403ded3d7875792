"""Generators rebuilt from checkpoints alone, and images written as a grid, an array or files."""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ganforge import ops
from ganforge.atomic import written_atomically
from ganforge.config import DataConfig
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.export import is_exported, load_exported, read_sidecar, sidecar_path
from ganforge.models import MODELS, build_generator
from ganforge.models.layers import balanced_labels
from ganforge.runs import RunDir, checkpoint
from ganforge.runs.images import image_grid, save_grid_png, to_uint8


def checkpoint_path(source: Path) -> Path:
    """A run folder means its last checkpoint; anything else is taken as a checkpoint file."""
    if source.is_dir():
        path = RunDir(source).last_checkpoint
        if not path.is_file():
            raise CheckpointError(f"{source} has no checkpoint yet ({path} is missing)")
        return path
    return source


def run_folder_of(checkpoint_file: Path) -> Path:
    """The run folder a checkpoint belongs to (RUN/checkpoints/last.pt -> RUN), else its folder."""
    parent = checkpoint_file.parent
    return parent.parent if parent.name == "checkpoints" else parent


def load_generator(source: Path, device: str | torch.device = "cpu", ema: bool = True) -> nn.Module:
    """The generator of a run folder, checkpoint or exported file, in eval mode, built without
    the training config; its EMA weights when the run kept them (and `ema`)."""
    if is_exported(source):
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
    # NHWC memory and the fast convolutions, as in training (docs/performance.md: sampling).
    generator.to(device, memory_format=torch.channels_last)
    return ops.accelerate(generator, torch.device(device), fuse_batch_norm=False).eval()


def model_card(source: Path, ema: bool = True) -> dict[str, Any]:
    """What a person wants to know about a generator: where it came from, how long it trained,
    how good it measured. Read from files only (checkpoint, run folder, or export sidecar)."""
    if is_exported(source):
        sidecar = read_sidecar(source) if sidecar_path(source).is_file() else {}
        return {key: sidecar.get(key) for key in CARD_KEYS} | {"source": str(source)}
    path = checkpoint_path(source)
    state = checkpoint.load(path)
    config = state["config"]
    fid, fid_from = RunDir(run_folder_of(path)).fid()
    return {
        "source": str(source), "description": config.get("description", ""),
        "dataset": config["data"]["name"], "model": state["generator"]["name"],
        "conditional": bool(state["generator"]["kwargs"].get("num_classes")),
        # epochs trained, a stopped one counted by its share (the epoch counter would round up)
        "step": state["step"], "epoch": round(state["step"] / state["steps_per_epoch"], 1),
        "ema": ema and "generator_ema" in state, "fid": fid, "fid_from": fid_from,
        "ganforge_version": state["ganforge_version"],
    }


def training_data(source: Path, data_dir: str | None = None) -> DataConfig | None:
    """The data config a run folder's or checkpoint's generator trained on (an export: None);
    `data_dir` names where its data is now, if it moved."""
    if is_exported(source):
        return None
    data = checkpoint.load(checkpoint_path(source))["config"]["data"]
    known = {field.name for field in dataclasses.fields(DataConfig)}
    data = DataConfig(**{key: value for key, value in data.items() if key in known})
    return dataclasses.replace(data, path=data_dir) if data_dir else data


CARD_KEYS = ("description", "dataset", "model", "conditional", "step", "epoch", "ema", "fid",
             "fid_from", "ganforge_version")


# Latent vectors are drawn in blocks of this many rows, so that any count, batch size or chunked
# writer sees the same z for image k (a multiple of 16: torch's CPU normal sampler then gives one
# long draw's values exactly).
LATENT_BLOCK = 1024


@torch.no_grad()
def generate_chunks(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000,
                    labels: torch.Tensor | None = None, z: torch.Tensor | None = None
                    ) -> Iterator[torch.Tensor]:
    """`count` images in [-1, 1] on the CPU, LATENT_BLOCK at a time; the same seed gives the same
    images on any device, for any count and batch size.

    A conditional generator draws `labels` (default: every class in turn).
    """
    device = next(generator.parameters(), torch.empty(0)).device  # ONNX generators: no parameters
    noise = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = balanced_labels(count, generator.num_classes)
    for start in range(0, count, LATENT_BLOCK):
        rows = min(LATENT_BLOCK, count - start)
        block_z = torch.randn(rows, generator.z_dim, generator=noise) if z is None \
            else z[start:start + rows]
        block_labels = None if labels is None else labels[start:start + rows]
        yield torch.cat([
            generator(part.to(device), None if block_labels is None
                      else block_labels[offset:offset + len(part)].to(device)).cpu()
            for offset, part in zip(range(0, rows, batch_size), block_z.split(batch_size))])


def generate(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000,
             labels: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """All of `generate_chunks` as one tensor (N, C, H, W)."""
    return torch.cat(list(generate_chunks(generator, count, seed, batch_size, labels, z)))


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


# Grids and animations are held whole in memory; more images than this go to .npy or a folder.
MAX_SHEET_IMAGES = 10_000


def write_images(images: torch.Tensor, out: Path, columns: int | None = None) -> str:
    """Images held in memory, written as `write_samples` writes them."""
    return write_samples(iter([images]), len(images), out, columns)


def write_samples(chunks: Iterator[torch.Tensor], count: int, out: Path,
                  columns: int | None = None) -> str:
    """`count` images arriving in chunks (N, C, H, W) in [-1, 1]: '.png' one grid, '.gif' one
    frame per image, '.npy' a uint8 array (N, C, H, W), anything else a folder of PNGs. Arrays
    and folders are written chunk by chunk under a temporary name and renamed when complete, so
    memory stays one chunk and OUT is never half-written (Ctrl-C removes the temporary file; a
    kill leaves it beside OUT as a hidden .NAME.*.partial). Returns a summary."""
    if out.suffix in (".png", ".gif"):
        if count > MAX_SHEET_IMAGES:
            raise GanforgeError(f"a {out.suffix} sheet of {count:,d} images is too large to look at "
                                f"(at most {MAX_SHEET_IMAGES:,d}); write .npy or a folder instead")
        out.parent.mkdir(parents=True, exist_ok=True)
        return _write_sheet(torch.cat(list(chunks)), out, columns)
    if out.exists() and (out.suffix == ".npy" or not out.is_dir() or any(out.iterdir())):
        raise GanforgeError(f"{out} already exists; give a new .npy, .png or folder path (nothing "
                            "was written)")
    first = next(chunks)
    out.parent.mkdir(parents=True, exist_ok=True)
    _require_space(out.parent, count, first.shape[1:], out.suffix == ".npy")
    chunks = itertools.chain([first], chunks)
    progress = tqdm(total=count, desc=f"writing {out.name}", unit="img", leave=False,
                    disable=None if count > LATENT_BLOCK else True)
    with progress:
        if out.suffix == ".npy":
            _write_array(chunks, count, first.shape[1:], out, progress)
            return f"wrote {count} images as a uint8 array {(count, *first.shape[1:])} to {out}"
        _write_folder(chunks, count, out, progress)
    return f"wrote {count} PNG files to {out}/"


def _write_sheet(images: torch.Tensor, out: Path, columns: int | None) -> str:
    if out.suffix == ".png":
        save_grid_png(images, out, columns)
        return f"wrote a grid of {len(images)} images to {out}"
    frames = [Image.fromarray(image_grid(image[None], padding=0)) for image in images]
    frames[0].save(out, save_all=True, append_images=frames[1:] + frames[-2:0:-1],
                   duration=120, loop=0)
    return f"wrote an animation of {len(images)} frames to {out}"


def _require_space(folder: Path, count: int, image_shape: torch.Size, array: bool) -> None:
    """Refuse up front what the disk cannot hold (a PNG file takes at least one 4 KiB block)."""
    image_bytes = math.prod(image_shape)
    needed = count * image_bytes if array else count * max(4096, image_bytes)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise GanforgeError(f"{count:,d} images need about {needed / 2**30:,.2f} GiB but {folder} has "
                            f"{free / 2**30:,.2f} GiB free; free space, or ask for fewer (--n)")


def _write_array(chunks: Iterator[torch.Tensor], count: int, image_shape: torch.Size, out: Path,
                 progress: tqdm) -> None:
    """A .npy file opened at its final size and filled chunk by chunk, as memory-mapped pages."""
    with written_atomically(out) as partial:
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8,
                                          shape=(count, *image_shape))
        start = 0
        for chunk in chunks:
            array[start:start + len(chunk)] = to_uint8(chunk).numpy()
            start += len(chunk)
            progress.update(len(chunk))
        array.flush()
        del array


def _write_folder(chunks: Iterator[torch.Tensor], count: int, out: Path, progress: tqdm) -> None:
    """PNG files written one by one into a temporary folder beside `out`, renamed at the end;
    numbered with enough digits that the names sort in order."""
    digits = max(5, len(str(count - 1)))
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        index = 0
        for chunk in chunks:
            for image in to_uint8(chunk).permute(0, 2, 3, 1).numpy():
                Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
                    partial / f"{index:0{digits}d}.png")
                index += 1
            progress.update(len(chunk))
        if out.is_dir():  # an empty folder the user made for it
            out.rmdir()
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def sample_checkpoint(source: Path, count: int, seed: int = 0
                      ) -> tuple[Iterator[torch.Tensor], torch.Tensor | None, str]:
    """`count` images from a run folder's (checkpoint's, export's) generator, in chunks as
    `generate_chunks` makes them, the labels they were drawn for (an equal number of each class
    for a conditional generator; None otherwise) and its dataset's name."""
    generator = load_generator(source)
    labels = balanced_labels(count, generator.num_classes)
    dataset = model_card(source)["dataset"] or "mnist"  # an export's sidecar may not say
    return generate_chunks(generator, count, seed=seed, labels=labels), labels, dataset


def evaluate_run(run: Path, count: int, metrics: tuple[str, ...], ref: str = "test", seed: int = 0,
                 data_dir: str | None = None) -> dict[str, Any]:
    """Sample a run folder's generator and score it against its dataset; recorded with the run."""
    from ganforge.metrics import evaluate

    images, labels, dataset = sample_checkpoint(run, count, seed)
    results = evaluate(images, dataset, metrics, ref=ref, seed=seed, data_dir=data_dir, labels=labels,
                       data=training_data(run, data_dir))
    return RunDir(run).record_evaluation(results, ref)

"""Images written to disk as a person asks for them: one grid (.png), an animation (.gif), a
uint8 array (.npy) or a folder of PNG files; written in chunks, never half-written."""

from __future__ import annotations

import itertools
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ganforge.atomic import written_atomically
from ganforge.errors import GanforgeError
from ganforge.metrics.images import to_uint8
from ganforge.runs.images import image_grid, save_grid_png

# Chunks of more images than this show a progress bar.
PROGRESS_FROM = 1024

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
                    disable=None if count > PROGRESS_FROM else True)
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

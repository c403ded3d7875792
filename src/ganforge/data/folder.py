"""Any folder of images as a dataset: found recursively, decoded once (on every core) into a
uint8 cache, then loaded in seconds.

Images are resized (shorter side) and center-cropped to `size`, as RGB or grayscale. The cache
is keyed by the folder's file list, sizes and modification times and by the decode settings, so
a changed, added or removed file means a fresh decode. Unreadable files are skipped with one
warning that lists them (or refused with `strict`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ganforge.atomic import write_text_atomic, written_atomically
from ganforge.data.catalog import data_shape
from ganforge.errors import DataError

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
FORMAT_VERSION = 1  # bump when decoding changes, so old caches are not reused


def memory_budget_bytes() -> int:
    """Decoded folders up to this size load into memory; bigger ones are memory-mapped."""
    return int(os.environ.get("GANFORGE_MEMORY_BUDGET_MB", "4096")) * 2**20


def cache_dir() -> Path:
    """Where decoded folders and real-image features are kept ($GANFORGE_CACHE)."""
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))


def discover(root: Path) -> list[Path]:
    """Image files under `root` (any depth), by suffix, in a stable order."""
    if not root.is_dir():
        raise DataError(f"data.path {root} is not a folder; point --set data.path=DIR at a folder "
                        "of images")
    files = sorted(path for path in root.rglob("*")
                   if path.suffix.lower() in SUFFIXES and path.is_file())
    if not files:
        raise DataError(f"{root} holds no images ({', '.join(SUFFIXES)}, searched recursively); "
                        "check data.path")
    return files


def decode(path: Path, size: int, channels: int) -> np.ndarray | None:
    """One image as uint8 (C, size, size), or None when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.seek(0)  # an animated GIF: its first frame
            image = image.convert("RGB" if channels == 3 else "L")
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.BICUBIC)
            left, top = (width - size) // 2, (height - size) // 2
            pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    return pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels[None]


def _decode_job(job: tuple[str, int, int]) -> np.ndarray | None:
    return decode(Path(job[0]), job[1], job[2])


def cache_key(root: Path, files: list[Path], size: int, channels: int) -> str:
    digest = hashlib.sha256(f"v{FORMAT_VERSION} {size}px {channels}c".encode())
    for path in files:
        status = path.stat()
        digest.update(f"{path.relative_to(root)}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def fingerprint(root: Path, files: list[Path], size: int, channels: int) -> str:
    """Names the folder's decoded images: its name, the decode settings and a hash of its files."""
    return f"{root.name}-{size}px-{channels}c-{cache_key(root, files, size, channels)[:20]}"


def folder_fingerprint(data) -> str:
    """`fingerprint` of a folder data config (DataConfig)."""
    channels, size, _ = data_shape(data)
    root = Path(data.path)
    return fingerprint(root, discover(root), size, channels)


def load_folder(root: Path, size: int, channels: int, strict: bool = False,
                workers: int | None = None) -> np.ndarray:
    """The folder's images as uint8 (N, C, size, size): from the cache when it is current, else
    decoded and cached. Bigger than the memory budget: a read-only memory map of the cache."""
    root = Path(root)
    files = discover(root)
    path = cache_dir() / "folders" / f"{fingerprint(root, files, size, channels)}.npy"
    if not path.is_file():
        _decode_to_cache(root, files, size, channels, strict, path, workers)
    images = np.load(path, mmap_mode="c")  # copy-on-write: writable for torch, the file untouched
    return images if images.nbytes > memory_budget_bytes() else np.array(images)


def _decode_to_cache(root: Path, files: list[Path], size: int, channels: int, strict: bool,
                     path: Path, workers: int | None) -> None:
    jobs = [(str(file), size, channels) for file in files]
    workers = workers or os.cpu_count() or 1
    bar = {"total": len(jobs), "desc": f"decoding {root.name}", "unit": "img", "disable": None,
           "leave": False, "file": sys.stderr}
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(workers) as pool:
            decoded = list(tqdm(pool.map(_decode_job, jobs, chunksize=32), **bar))
    else:
        decoded = [_decode_job(job) for job in tqdm(jobs, **bar)]
    skipped = [str(file.relative_to(root)) for file, pixels in zip(files, decoded) if pixels is None]
    if skipped and strict:
        raise DataError(f"{len(skipped)} unreadable image file(s) in {root}: {', '.join(skipped)}; "
                        "remove them, or drop data.strict to skip them")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) in {root}: "
                      f"{', '.join(skipped)}", stacklevel=3)
    images = [pixels for pixels in decoded if pixels is not None]
    if not images:
        raise DataError(f"none of the {len(files)} image files in {root} could be read")
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as partial:
        np.save(partial, np.stack(images))
    write_text_atomic(path.with_suffix(".json"), json.dumps(
        {"root": str(root), "images": len(images), "skipped": skipped}, indent=1))

"""Images to score, from arrays or folders of PNGs, as float tensors in [-1, 1]; and back to
uint8 pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.errors import GanforgeError


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255]."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)



IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def to_model_range(array: np.ndarray, source: Path) -> torch.Tensor:
    """N x H x W, N x C x H x W or N x H x W x C (C 1 or 3, as PIL and NumPy hold images);
    uint8, or float in [0, 1] or [-1, 1] -> float32 N x C x H x W in [-1, 1]."""
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4:
        raise GanforgeError(f"{source}: expected images shaped N x H x W, N x C x H x W or "
                            f"N x H x W x C, got {array.shape}; stack the images along a first axis")
    if array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):  # channels last
        array = array.transpose(0, 3, 1, 2)
    if array.dtype == np.uint8:
        return torch.from_numpy(array.astype(np.float32) / 127.5 - 1)
    if not np.issubdtype(array.dtype, np.floating):
        raise GanforgeError(f"{source}: expected uint8 or float images, got {array.dtype}; "
                            "convert with .astype(numpy.uint8) for 0..255 pixels")
    images = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    # NaN and Inf are not a range: evaluate names them.
    finite = images[torch.isfinite(images)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    if low < -1.001 or high > 1.001:
        raise GanforgeError(f"{source}: float images must lie in [0, 1] or [-1, 1], "
                            f"found [{low:.3g}, {high:.3g}]; rescale them, or save 0..255 pixels "
                            "as uint8")
    return images if low < 0 else images * 2 - 1


def load_array(path: Path) -> torch.Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise GanforgeError(f"cannot read {path} as a NumPy array ({error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            key = "images" if "images" in loaded.files else loaded.files[0]
            loaded = loaded[key]
    return to_model_range(loaded, path)


def load_folder(folder: Path, channels: int = 1) -> torch.Tensor:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanforgeError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    mode = "L" if channels == 1 else "RGB"
    try:
        arrays = [np.asarray(Image.open(path).convert(mode)) for path in files]
    except OSError as error:
        raise GanforgeError(f"cannot read an image in {folder}: {error}") from None
    if len({array.shape for array in arrays}) != 1:
        raise GanforgeError(f"{folder}: the images differ in size; give images of one size")
    stacked = np.stack(arrays)
    return to_model_range(stacked if channels == 1 else stacked.transpose(0, 3, 1, 2), folder)

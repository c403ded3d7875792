"""Where datasets come from: search folders, verify checksums, download when missing."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganforge.data.idx import read_bytes, read_idx
from ganforge.errors import DataError
from ganforge.registry import Registry


@dataclass(frozen=True)
class IdxDataset:
    folder: str  # sub-folder name under each search root
    md5: dict[str, str]  # file stem -> MD5 of the uncompressed file
    mirrors: tuple[str, ...]  # base URLs serving '<stem>.gz'
    channels: int = 1
    image_size: int = 28
    num_classes: int = 10

    def stems(self, split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


DATASETS: Registry[IdxDataset] = Registry("dataset")
DATASETS.register("mnist", IdxDataset(
    folder="mnist",
    md5={
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
))
DATASETS.register("fashion-mnist", IdxDataset(
    folder="fashion-mnist",
    md5={
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
))

DOWNLOAD_TIMEOUT_S = 20


def search_roots(data_dir: str | None) -> list[Path]:
    """Folders searched in order: the given one, $GANFORGE_DATA, ./data, /usr/share/datasets."""
    roots = [data_dir, os.environ.get("GANFORGE_DATA"), "data", "/usr/share/datasets"]
    return [Path(root) for root in roots if root]


def _find(stem: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for name in (f"{stem}.gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def _download(stem: str, spec: IdxDataset, target_folder: Path) -> Path | None:
    """Fetch '<stem>.gz' from the first mirror that serves a file with the right checksum."""
    if os.environ.get("GANFORGE_OFFLINE"):
        return None
    target = target_folder / f"{stem}.gz"
    for mirror in spec.mirrors:
        try:
            with urllib.request.urlopen(mirror + target.name, timeout=DOWNLOAD_TIMEOUT_S) as reply:
                payload = reply.read()
        except (OSError, ValueError):
            continue
        partial = target.with_suffix(".gz.part")
        target_folder.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(payload)
        if hashlib.md5(read_bytes(partial)).hexdigest() != spec.md5[stem]:
            partial.unlink()
            continue
        partial.replace(target)
        return target
    return None


def locate(name: str, data_dir: str | None, split: str = "train") -> tuple[Path, Path]:
    """Paths of a split's image and label files, downloading into ./data/<name> if missing."""
    spec = DATASETS.get(name)
    roots = search_roots(data_dir)
    folders = [folder for root in roots for folder in (root / spec.folder, root)]
    paths = []
    for stem in spec.stems(split):
        path = _find(stem, folders) or _download(stem, spec, Path("data") / spec.folder)
        if path is None:
            raise DataError(
                f"{name}: {stem}(.gz) not found in {', '.join(str(f) for f in folders)} and could "
                f"not be downloaded; put the four files {', '.join(sorted(spec.md5))} (.gz or raw) "
                "in one of these folders or pass --data-dir"
            )
        paths.append(path)
    return paths[0], paths[1]


def load_split(name: str, data_dir: str | None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Verified images (N, C, H, W) uint8 and labels (N,) int64 of one split."""
    spec = DATASETS.get(name)
    images_path, labels_path = locate(name, data_dir, split)
    images = read_idx(images_path, spec.md5[images_path.name.removesuffix(".gz")])
    labels = read_idx(labels_path, spec.md5[labels_path.name.removesuffix(".gz")])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_path} and {labels_path} do not form an image/label pair")
    return images[:, None].copy(), labels.astype(np.int64)

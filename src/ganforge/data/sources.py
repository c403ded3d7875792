"""Where datasets come from: search folders, verify checksums, download when missing."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np

from ganforge.data.catalog import (
    DATASETS,
    Cifar10Dataset,
    FolderDataset,
    IdxDataset,
    StackedDataset,
    data_shape,
)
from ganforge.data.folder import load_folder
from ganforge.data.idx import read_bytes, read_idx
from ganforge.data.stacked import stack
from ganforge.errors import DataError

DOWNLOAD_TIMEOUT_S = 20


DEFAULT_SEARCH = "$GANFORGE_DATA, ./data and /usr/share/datasets"


def default_roots() -> list[Path]:
    """Folders searched in this order when the user names none."""
    roots = [os.environ.get("GANFORGE_DATA"), "data", "/usr/share/datasets"]
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


def named_folder(data_dir: str, name: str) -> Path:
    """The folder a user named (--data-dir, data.path): it must exist; nothing else is searched."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"--data-dir {data_dir} (data.path) is not a folder; give the folder that holds "
                        f"the {name} files, or drop --data-dir to search {DEFAULT_SEARCH}")
    return folder


def dataset_folders(name: str, data_dir: str | None) -> list[Path]:
    """Where a dataset's files may be: the named folder alone (and its sub-folder for the
    dataset), or every default search root and their sub-folders."""
    spec = DATASETS.get(name)
    roots = [named_folder(data_dir, name)] if data_dir else default_roots()
    return [folder for root in roots for folder in (root / spec.folder, root)]


def locate(name: str, data_dir: str | None, split: str = "train") -> tuple[Path, Path]:
    """Paths of a split's image and label files; without a named folder, downloaded into
    ./data/<name> when missing."""
    spec = DATASETS.get(name)
    folders = dataset_folders(name, data_dir)
    paths = []
    for stem in spec.stems(split):
        path = _find(stem, folders)
        if path is None and data_dir:
            raise DataError(
                f"--data-dir {data_dir} holds no {stem}(.gz) (looked in {', '.join(map(str, folders))}); "
                f"put the four {name} files {', '.join(sorted(spec.md5))} (.gz or raw) there, or drop "
                f"--data-dir to search {DEFAULT_SEARCH}")
        path = path or _download(stem, spec, Path("data") / spec.folder)
        if path is None:
            raise DataError(
                f"{name}: {stem}(.gz) not found in {', '.join(str(f) for f in folders)} and could "
                f"not be downloaded; put the four files {', '.join(sorted(spec.md5))} (.gz or raw) "
                "in one of these folders or pass --data-dir"
            )
        paths.append(path)
    return paths[0], paths[1]


def _load_cifar10(spec: Cifar10Dataset, data_dir: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    # Imported here: torchvision takes seconds to import and only CIFAR needs it.
    from torchvision.datasets import CIFAR10

    roots = dataset_folders("cifar10", data_dir)
    for root in roots:
        if (root / CIFAR10.base_folder).is_dir():
            try:
                dataset = CIFAR10(str(root), train=split == "train", download=False)
            except RuntimeError:  # present but failing torchvision's MD5 check
                raise DataError(f"cifar10 files in {root / CIFAR10.base_folder} fail their checksum; "
                                "delete that folder and download again") from None
            break
    else:
        if data_dir:
            raise DataError(f"--data-dir {data_dir} holds no {CIFAR10.base_folder}/ (looked in "
                            f"{', '.join(map(str, roots))}); put the extracted archive there, or drop "
                            f"--data-dir to search {DEFAULT_SEARCH}")
        if os.environ.get("GANFORGE_OFFLINE"):
            raise DataError(f"cifar10: {CIFAR10.base_folder}/ not found in "
                            f"{', '.join(map(str, roots))} and downloads are off (GANFORGE_OFFLINE); "
                            "put the extracted archive in one of these folders or pass --data-dir")
        target = Path("data") / spec.folder
        try:
            dataset = CIFAR10(str(target), train=split == "train", download=True)
        except (OSError, RuntimeError) as error:
            raise DataError(f"cifar10: not found locally and the download failed ({error}); put "
                            f"{CIFAR10.base_folder}/ in {target} or pass --data-dir") from None
    return dataset.data.transpose(0, 3, 1, 2).copy(), np.asarray(dataset.targets, dtype=np.int64)


def load_data(data, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The images (N, C, H, W) uint8 and labels of a data config (`DataConfig`). A folder's
    "test" split is its held-out share (data.holdout, the same images for every run and seed),
    and "train" the rest: the held-out images are never trained on."""
    if data.name == "stacked-mnist" and split == "train":
        return load_split(data.name, data.path, split, count=data.stacked_count)
    if data.name != "folder":
        return load_split(data.name, data.path, split)
    channels, size, _ = data_shape(data)
    images = load_folder(Path(data.path), size, channels, data.strict)
    held = round(len(images) * data.holdout)
    if not held:  # nothing held out: the reference is the training images themselves
        chosen = images
    elif isinstance(images, np.memmap):  # too big for memory: a slice keeps the map (the last files)
        chosen = images[len(images) - held:] if split != "train" else images[:len(images) - held]
    else:  # a fixed seeded shuffle: the split depends on the folder alone
        order = np.random.RandomState(0).permutation(len(images))
        chosen = images[np.sort(order[:held] if split != "train" else order[held:])]
    return chosen, np.zeros(len(chosen), dtype=np.int64)


def load_split(name: str, data_dir: str | None, split: str = "train",
               count: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Verified images (N, C, H, W) uint8 and labels (N,) int64 of one split (`count`: how many
    triples Stacked MNIST draws; 0: its catalogue's number)."""
    spec = DATASETS.get(name)
    if isinstance(spec, StackedDataset):
        images, labels = load_split(spec.source, data_dir, split)
        return stack(images, labels, count or (spec.train_count if split == "train" else spec.test_count),
                     split)
    if isinstance(spec, Cifar10Dataset):
        return _load_cifar10(spec, data_dir, split)
    if isinstance(spec, FolderDataset):
        raise DataError("a folder dataset has no splits: load it with its data config (load_data)")
    images_path, labels_path = locate(name, data_dir, split)
    images = read_idx(images_path, spec.md5[images_path.name.removesuffix(".gz")])
    labels = read_idx(labels_path, spec.md5[labels_path.name.removesuffix(".gz")])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_path} and {labels_path} do not form an image/label pair")
    return images[:, None].copy(), labels.astype(np.int64)

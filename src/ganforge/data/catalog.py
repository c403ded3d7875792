"""The dataset catalogue: every dataset ganforge knows by name, with its image shape and classes
(and, for the IDX files, their checksums and mirrors). Plain data, read by the data loaders,
config validation and the command line's choices alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.registry import Registry

# The feature networks images can be scored in (ganforge.metrics.features builds them).
FEATURE_NETWORKS = ("digits", "random", "inception")


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


@dataclass(frozen=True)
class Cifar10Dataset:
    """CIFAR-10 through torchvision's reader and downloader (which checks the archive's MD5)."""

    folder: str = "cifar10"
    channels: int = 3
    image_size: int = 32
    num_classes: int = 10


@dataclass(frozen=True)
class FolderDataset:
    """Any folder of images (data.path); size and channels come from the data config."""

    channels: int = 3
    image_size: int = 64
    num_classes: int = 0


@dataclass(frozen=True)
class StackedDataset:
    """Stacked MNIST: three MNIST digits as R, G and B (ganforge.data.stacked); 1,000 classes."""

    source: str = "mnist"
    channels: int = 3
    image_size: int = 28
    num_classes: int = 1000
    train_count: int = 128_000  # PacGAN's; data.stacked_count changes what training draws
    test_count: int = 26_000  # as many as the modes metric scores by default
    evaluate_samples: int = 26_000  # samples `evaluate` draws by default (the papers')


DATASETS: Registry[IdxDataset | Cifar10Dataset | FolderDataset | StackedDataset] = Registry("dataset")
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

DATASETS.register("cifar10", Cifar10Dataset())
DATASETS.register("folder", FolderDataset())
DATASETS.register("stacked-mnist", StackedDataset())

def data_shape(data) -> tuple[int, int, int]:
    """(channels, image size, classes) of the images a data config yields."""
    spec = DATASETS.get(data.name)
    return data.channels or spec.channels, data.image_size or spec.image_size, spec.num_classes




# Datasets with train and test splits (export-dataset), and the grayscale IDX ones (the digit
# classifiers' recipe trains on these).
SPLIT_DATASETS = tuple(name for name in DATASETS.names() if not isinstance(DATASETS.get(name), FolderDataset))
IDX_DATASETS = tuple(name for name in DATASETS.names() if isinstance(DATASETS.get(name), IdxDataset))


def evaluate_samples(name: str) -> int:
    """How many samples `evaluate` draws by default for a dataset's generator."""
    return getattr(DATASETS.get(name), "evaluate_samples", 10_000) if name in DATASETS else 10_000

import gzip
import hashlib

import numpy as np
import pytest
import torch

from ganforge.data.augment import hflip, rotate, to_model_range
from ganforge.data.idx import parse_idx, read_idx
from ganforge.data.loader import DeviceBatches
from ganforge.data.sources import load_split, locate
from ganforge.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def test_idx_round_trip_raw_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    content = idx_bytes(images)
    (tmp_path / "raw").write_bytes(content)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(content))
    md5 = hashlib.md5(content).hexdigest()
    for name in ("raw", "packed.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name, md5), images)


def test_idx_checksum_mismatch_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((1, 2, 2))))
    with pytest.raises(DataError, match=f"{path}.*MD5.*not the canonical"):
        read_idx(path, "0" * 32)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x0d\x03" + bytes(12), "bad magic"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (idx_bytes(np.zeros((2, 2, 2)))[:-1], "truncated or corrupt"),
])
def test_idx_bad_files(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        parse_idx(content, tmp_path / "file")


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 4, 4))))[:30])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        read_idx(path)


def test_missing_files_list_folders_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    with pytest.raises(DataError) as error:
        locate("mnist", None)
    message = str(error.value)
    assert "data/mnist" in message and "/usr/share/datasets" in message
    assert "train-images-idx3-ubyte" in message and "\n" not in message
    # A folder the user names is the only place looked in, and it must exist.
    with pytest.raises(DataError, match="nowhere \\(data.path\\) is not a folder"):
        locate("mnist", str(tmp_path / "nowhere"))


def test_repository_mnist_is_canonical():
    images, labels = load_split("mnist", None, "test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(labels.tolist()) == set(range(10))


def test_to_model_range_scales_to_minus_one_one():
    batch = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 1, 4, 4)
    images = to_model_range(batch.contiguous())
    assert images[0].eq(-1).all() and images[1].eq(1).all()


def test_augmentation_keeps_shape_and_range():
    torch.manual_seed(0)
    batch = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    images = to_model_range(batch, rotation_degrees=20, flip=True)
    assert images.shape == (16, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert not torch.equal(images, to_model_range(batch))


def test_rotation_by_zero_is_identity_and_corners_stay_background():
    images = torch.rand(8, 1, 28, 28)
    np.testing.assert_allclose(rotate(images, 0.0), images, atol=1e-5)
    ones = torch.ones(64, 1, 28, 28)
    rotated = rotate(ones, 45.0)
    # Corners come from outside the image: black, not grey.
    assert rotated[:, :, 0, 0].mean() < 0.5 and rotated[:, :, 14, 14].min() > 0.99


def test_hflip_mirrors_about_half_the_batch():
    torch.manual_seed(1)
    images = torch.arange(4.0).view(1, 1, 1, 4).expand(1000, 1, 1, 4)
    flipped = hflip(images)
    mirrored = flipped[:, 0, 0, 0].eq(3)
    assert flipped[mirrored].equal(images[mirrored].flip(-1))
    assert flipped[~mirrored].equal(images[~mirrored])
    assert 400 < int(mirrored.sum()) < 600


def test_batches_cover_each_image_once_per_epoch_and_repeat_by_seed():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    labels = torch.arange(100)
    batches = DeviceBatches(images, labels, batch_size=10, seed=3)
    seen = torch.cat([labels for _, labels in batches.epoch(0)])
    assert sorted(seen.tolist()) == list(range(100))
    again = torch.cat([labels for _, labels in DeviceBatches(images, labels, 10, 3).epoch(0)])
    assert seen.equal(again)
    later = torch.cat([labels for _, labels in batches.epoch(0, start=4)])
    assert later.equal(seen[40:])
    assert not seen.equal(torch.cat([labels for _, labels in batches.epoch(1)]))


def test_augmentation_is_drawn_from_the_batch_alone():
    # A batch's rotations and flips depend on (seed, epoch, rank, batch) only: not on the global
    # random stream (runs trained together share it), nor on where a resumed epoch starts.
    images = (torch.rand(40, 1, 8, 8) * 255).to(torch.uint8)
    batches = DeviceBatches(images, torch.arange(40), batch_size=10, seed=3, rotation_degrees=20,
                            hflip=True)
    torch.manual_seed(0)
    whole = [batch for batch, _ in batches.epoch(0)]
    torch.manual_seed(1)
    resumed = [batch for batch, _ in batches.epoch(0, start=2)]
    assert all(torch.equal(left, right) for left, right in zip(whole[2:], resumed, strict=True))
    plain = [batch for batch, _ in DeviceBatches(images, torch.arange(40), 10, seed=3).epoch(0)]
    assert not torch.equal(whole[0], plain[0])  # (it does augment)

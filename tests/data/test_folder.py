"""Folders of images: discovery, decoding and its cache, unreadable files, RGB batches, and
training at 64 and 128 px; CIFAR-10 offline."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.config import parse_override, resolve
from ganforge.data import folder
from ganforge.data.folder import discover, load_folder
from ganforge.data.sources import load_split
from ganforge.data.synthetic import abstract_image
from ganforge.errors import DataError
from ganforge.training.trainer import Trainer


@pytest.fixture
def art_folder(tmp_path):
    """30 images in sub-folders, mixed formats and modes, plus a corrupt file and a note."""
    rng = random.Random(0)
    root = tmp_path / "art"
    for index in range(30):
        image = abstract_image(rng)
        mode, suffix = [("RGB", ".jpg"), ("RGBA", ".png"), ("L", ".png"), ("P", ".gif"),
                        ("RGB", ".webp"), ("RGB", ".bmp")][index % 6]
        path = root / f"series-{index % 3}" / f"painting-{index:02d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.convert(mode).save(path)
    (root / "series-0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_discovery_finds_images_by_suffix_at_any_depth(art_folder, tmp_path):
    files = discover(art_folder)
    assert len(files) == 31 and not any(path.suffix == ".txt" for path in files)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        discover(tmp_path / "empty")
    with pytest.raises(DataError, match="is not a folder"):
        discover(tmp_path / "missing")


def test_decoding_warns_once_then_the_cache_serves_until_a_file_changes(art_folder, monkeypatch):
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\) .*broken.png"):
        images = load_folder(art_folder, 64, 3)
    assert images.shape == (30, 3, 64, 64) and images.dtype == np.uint8
    assert len({tuple(image[:, 0, 0]) for image in images}) > 20  # the backgrounds' colors survive

    calls = []
    real_decode = folder.decode
    monkeypatch.setattr(folder, "decode", lambda *args: calls.append(args) or real_decode(*args))
    assert np.array_equal(load_folder(art_folder, 64, 3, workers=1), images) and calls == []
    changed = art_folder / "series-1" / "painting-01.png"
    abstract_image(random.Random(9)).save(changed)
    os.utime(changed, ns=(1, 1))
    with pytest.warns(UserWarning):
        again = load_folder(art_folder, 64, 3, workers=1)
    assert len(calls) == 31 and not np.array_equal(again, images)
    with pytest.warns(UserWarning):  # other settings: their own cache, decoded afresh
        assert load_folder(art_folder, 32, 1, workers=1).shape == (30, 1, 32, 32)


def test_strict_makes_an_unreadable_file_an_error(art_folder):
    with pytest.raises(DataError, match="broken.png"):
        load_folder(art_folder, 64, 3, strict=True)


def test_a_cache_over_the_memory_budget_is_memory_mapped(art_folder, monkeypatch):
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", "0")
    with pytest.warns(UserWarning):
        images = load_folder(art_folder, 64, 3)
    assert isinstance(images, np.memmap)
    config = resolve("folder-dcgan64", overrides=[
        parse_override(f"data.path={art_folder}"), parse_override("train.batch_size=8"),
        parse_override("train.device=cpu"), parse_override("data.vflip=true")])
    real, _ = next(Trainer.from_config(config).batches.epoch(0))
    assert real.shape == (8, 3, 64, 64) and real.min() >= -1 and real.max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "size"), [("folder-dcgan64", 64), ("folder-dcgan128", 128)])
def test_a_few_training_steps_on_a_folder(art_folder, tmp_path, preset, size):
    out = tmp_path / "run"
    with pytest.warns(UserWarning):
        code = main(["train", "--preset", preset, "--out", str(out), "--device", "cpu",
                     "--batch-size", "8", "--max-steps", "3", "--set", f"data.path={art_folder}",
                     "--set", "model.ngf=8", "--set", "model.ndf=8", "--set", "train.num_samples=4"])
    assert code == 0
    grid = np.asarray(Image.open(out / "samples" / "epoch-0001.png"))
    assert grid.shape == (2 * (size + 2) + 2, 2 * (size + 2) + 2, 3)


def test_a_small_folder_trains_without_evaluations_and_says_why(art_folder, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.warns(UserWarning):
        assert main(["train", "--preset", "folder-dcgan64", "--out", str(out), "--device", "cpu",
                     "--batch-size", "8", "--max-steps", "1", "--set", f"data.path={art_folder}",
                     "--set", "model.ngf=8", "--set", "model.ndf=8"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("no evaluation during training: data.holdout=0.1 keeps 3 of the folder's "
                         "images for it, fewer than 50") == 1
    assert not (out / "checkpoints" / "best.pt").exists()


@pytest.fixture(scope="module")
def squares_folder(tmp_path_factory):
    """600 small images, each a square of its own gray level and place: every image distinct."""
    root = tmp_path_factory.mktemp("squares") / "squares"
    root.mkdir()
    for index in range(600):
        pixels = np.zeros((32, 32), dtype=np.uint8)
        row, column = divmod(index % 64, 8)
        pixels[row * 3:row * 3 + 8, column * 3:column * 3 + 8] = 40 + index * 215 // 600
        Image.fromarray(pixels).save(root / f"{index:03d}.png")
    return root


def _folder_config(root, *overrides: str):
    return resolve("folder-dcgan64", overrides=[parse_override(f"data.path={root}"),
                                                    parse_override("data.image_size=32"),
                                                    parse_override("data.channels=1"),
                                                    parse_override("model.name=dcgan"),
                                                    *map(parse_override, overrides)])


def test_held_out_images_never_reach_training(squares_folder):
    from ganforge.data.sources import load_data

    config = _folder_config(squares_folder)
    train, _ = load_data(config.data, "train")
    held, _ = load_data(config.data, "test")
    assert len(held) == 60 and len(train) == 540
    every = {image.tobytes() for image in load_folder(squares_folder, 32, 1)}
    train_set, held_set = {image.tobytes() for image in train}, {image.tobytes() for image in held}
    assert not train_set & held_set and train_set | held_set == every
    batches = Trainer.from_config(_folder_config(squares_folder, "train.seed=7",
                                                 "model.ngf=8", "model.ndf=8")).batches
    assert {image.numpy().tobytes() for image in batches.images.cpu()} == train_set
    # The split is the folder's: another seed, the same held-out images.
    assert {image.tobytes() for image in load_data(_folder_config(squares_folder, "train.seed=3").data,
                                                   "test")[0]} == held_set
    nothing_held = _folder_config(squares_folder, "data.holdout=0").data
    assert len(load_data(nothing_held, "train")[0]) == len(load_data(nothing_held, "test")[0]) == 600


@pytest.mark.slow
def test_a_folder_run_is_measured_in_the_random_embedding(squares_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "folder-dcgan64", "--out", str(out), "--device", "cpu",
                 "--batch-size", "32", "--epochs", "1", "--set", f"data.path={squares_folder}",
                 "--set", "data.image_size=32", "--set", "data.channels=1", "--set", "model.ngf=8",
                 "--set", "model.ndf=8", "--set", "train.eval_samples=100"]) == 0
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
             if '"event": "eval"' in line]
    assert len(evals) == 1 and evals[0]["features"] == "random" and evals[0]["fid"] > 0
    assert (out / "checkpoints" / "best.pt").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(out), "--n", "200", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"fid", "kid", "precision", "recall", "density", "coverage", "memorization"} <= set(scores)
    assert "classes_covered" not in scores
    # The real floor of the same folder (its training images against its held-out ones) is far
    # below one epoch's worth of generator.
    assert main(["evaluate", "--real", "--dataset", "folder", "--data-dir", str(squares_folder),
                 "--n", "200", "--json", "--metrics", "fid"]) == 0
    assert json.loads(capsys.readouterr().out)["fid"] < scores["fid"] / 5


def test_cifar10_offline_and_absent_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="downloads are off"):
        load_split("cifar10", None, "train")
    with pytest.raises(DataError, match="holds no cifar-10-batches-py/"):
        load_split("cifar10", str(tmp_path), "train")


def test_folder_needs_a_path():
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match="needs data.path"):
        resolve("folder-dcgan64")
    with pytest.raises(ConfigError, match=r"data.holdout is the share .* in \[0, 1\); got 1.0"):
        resolve("folder-dcgan64", overrides=[parse_override("data.path=."),
                                                 parse_override("data.holdout=1")])
    with pytest.raises(ConfigError, match="apply to folder datasets"):
        resolve("mnist-dcgan", overrides=[parse_override("data.image_size=64")])


def test_export_dataset_writes_mnist_as_a_folder_a_run_can_read(tmp_path, capsys):
    from helpers import MNIST_DIR

    out = tmp_path / "mnist32"
    assert main(["export-dataset", "mnist", "--out", str(out), "--size", "32", "--split", "test",
                 "--limit", "20", "--data-dir", str(MNIST_DIR)]) == 0
    assert "wrote 20 PNG files" in capsys.readouterr().out
    files = sorted(out.iterdir())
    assert len(files) == 20 and Image.open(files[0]).size == (32, 32)
    images = load_folder(out, 32, 1)
    original = load_split("mnist", str(MNIST_DIR), "test")[0][:20]
    # the same digits, in order: each image's ink follows its 28 px original's
    assert np.corrcoef(images.reshape(20, -1).mean(1), original.reshape(20, -1).mean(1))[0, 1] > 0.9
    assert main(["export-dataset", "mnist", "--out", str(out), "--data-dir", str(MNIST_DIR)]) == 2
    assert "already exists" in capsys.readouterr().err

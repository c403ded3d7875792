"""`summary` against a hand count, and `train --dry-run` writing nothing."""

import pytest
import torch

from ganforge.cli import main
from ganforge.config import resolve
from ganforge.models import build_discriminator, build_generator
from ganforge.summary import summarize
from helpers import TINY, run_cli


def test_dcgan28_summary_matches_a_hand_count():
    generator = build_generator("dcgan28", z_dim=64, channels=1, image_size=28)
    rows = summarize(generator, torch.zeros(1, 64))
    conv_t = [r for r in rows if r.kind == "ConvTranspose2d"]
    # (input pixels x C_in) x C_out x k^2 for each transposed convolution
    assert [r.macs for r in conv_t] == [1 * 64 * 256 * 9, 9 * 256 * 128 * 16, 36 * 128 * 64 * 9,
                                        169 * 64 * 1 * 16]
    assert [r.output_shape for r in conv_t] == [(256, 3, 3), (128, 6, 6), (64, 13, 13), (1, 28, 28)]
    weights = 64 * 256 * 9 + 256 * 128 * 16 + 128 * 64 * 9 + 64 * 16 + 1
    batch_norm = 2 * (256 + 128 + 64)
    assert sum(r.parameters for r in rows) == weights + batch_norm == \
        sum(p.numel() for p in generator.parameters())
    discriminator = build_discriminator("dcgan28", channels=1, image_size=28)
    rows = summarize(discriminator, torch.zeros(1, 1, 28, 28))
    convs = [r.macs for r in rows if r.kind == "Conv2d"]
    # output pixels x C_out x C_in x k^2
    assert convs == [169 * 16 * 1 * 9, 25 * 32 * 16 * 25, 1 * 64 * 32 * 25]


@pytest.mark.slow
def test_summary_command_prints_both_tables():
    result = run_cli("summary", "--preset", "mnist-dcgan")
    assert result.returncode == 0
    assert "generator (dcgan28)" in result.stdout and "discriminator (dcgan28)" in result.stdout
    assert "747,393" in result.stdout  # G's parameters
    # The course notebook's torchsummary counts the biases before BatchNorm: say how to compare.
    course = run_cli("summary", "--preset", "mnist-course")
    assert "as torchsummary counts PyTorch's default layers: G 747,841 and D 64,545" in course.stdout
    assert "a training step at batch 64 needs about" in result.stdout


def test_dry_run_validates_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run passed" in printed and "batch_size: 32" in printed
    assert not any(tmp_path.iterdir())
    assert main(["train", *TINY, "--dry-run", "--set", "train.lr_g=5"]) == 2
    assert "train.lr_g" in capsys.readouterr().err


def test_show_data_applies_the_augmentation(tmp_path):
    import numpy as np
    from PIL import Image

    from ganforge.data.sources import load_split
    from ganforge.runs.images import image_grid
    from ganforge.training.trainer import Trainer
    from helpers import MNIST_DIR

    def show(name: str, *extra: str):
        assert main(["show-data", "--data-dir", str(MNIST_DIR), "--n", "16",
                     "--out", str(tmp_path / name), "--set", "data.limit=512", *extra]) == 0
        return np.asarray(Image.open(tmp_path / name))

    plain = show("plain.png")
    rotated = show("rotated.png", "--set", "data.rotation_degrees=30")
    assert plain.shape == rotated.shape and not np.array_equal(plain, rotated)
    # Without augmentation the grid is exactly the first training batch, scaled (so it is also
    # the same on every call).
    trainer = Trainer.from_config(resolve(overrides=[("data.limit", 512), ("train.device", "cpu"),
                                             ("data.path", str(MNIST_DIR))]))
    order = trainer.batches.permutation(0)[:16]
    images = torch.from_numpy(load_split("mnist", str(MNIST_DIR))[0][:512])[order]
    assert np.array_equal(plain, image_grid(images.float() / 127.5 - 1))

"""Builders and checks several test modules share (no test module imports another); the
fixtures are in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge import ops
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.losses import LOSSES
from ganforge.models import build_discriminator, build_generator
from ganforge.training.options import StepOptions
from ganforge.training.step import Gan
from ganforge.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO / "data" / "mnist"

# A run small enough for tests: 256 images in batches of 32 is 8 steps an epoch, each epoch
# scored (the default) on 200 samples.
TINY = ["--data-dir", str(MNIST_DIR), "--batch-size", "32", "--set", "data.limit=256",
        "--set", "train.num_samples=16", "--set", "train.eval_samples=200", "--device", "cpu"]


def train_tiny(out: Path, *extra: str) -> int:
    return main(["train", *TINY, "--out", str(out), *extra])


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`ganforge ARGS` in a fresh process, as a user would run it."""
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=300)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"  # screenshots from the browser tests, for a person to look at
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian package 'chromium'); .ci/run installs it")


@contextmanager
def chromium_page():
    """A headless Chromium page, and the list its console errors and page errors collect in."""
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip)")
    problems: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        try:
            yield page, problems
        finally:
            browser.close()


CPU = torch.device("cpu")


def assert_same_function(fast: nn.Module, plain: nn.Module, images: torch.Tensor) -> None:
    """Same outputs, input gradients and parameter gradients for the same weights and input."""
    plain.load_state_dict(fast.state_dict())
    fast_in, plain_in = images.clone().requires_grad_(), images.clone().requires_grad_()
    fast_out, plain_out = fast(fast_in), plain(plain_in)
    torch.testing.assert_close(fast_out, plain_out, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(plain_out)
    fast_out.backward(grad)
    plain_out.backward(grad)
    torch.testing.assert_close(fast_in.grad, plain_in.grad, atol=1e-5, rtol=1e-5)
    for fast_param, plain_param in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(fast_param.grad, plain_param.grad, atol=1e-4, rtol=1e-4)


def make_gan(*, name: str = "dcgan28", z_dim: int = 16, lr_g: float = 2e-4, lr_d: float = 2e-4,
             betas: tuple[float, float] = (0.5, 0.99), plain: bool = True, channels_last: bool = False,
             dtype: torch.dtype = torch.float32) -> Gan:
    """A small GAN on 28 px images with Adam and BCE, seeded; `plain=False` sets its layers up as
    Trainer.from_config does on a CPU (BatchNorm fused only in float32)."""
    torch.manual_seed(0)
    generator = build_generator(name, z_dim=z_dim, channels=1, image_size=28).to(dtype)
    discriminator = build_discriminator(name, channels=1, image_size=28).to(dtype)
    if not plain:
        ops.accelerate(generator, CPU)
        ops.accelerate(discriminator, CPU)
    if channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    return Gan(generator=generator, discriminator=discriminator,
               optimizer_g=torch.optim.Adam(generator.parameters(), lr_g, betas=betas),
               optimizer_d=torch.optim.Adam(discriminator.parameters(), lr_d, betas=betas),
               options=StepOptions(loss=LOSSES.get("bce")))


def three_batches(dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(1)
    return [((torch.rand(32, 1, 28, 28) * 2 - 1).to(dtype), torch.randn(32, 16, dtype=dtype))
            for _ in range(3)]


def small_trainer(overrides: list[tuple[str, object]], preset: str = "mnist-course"):
    return Trainer.from_config(resolve(preset, overrides=[
        ("data.limit", 256), ("train.device", "cpu"), ("train.batch_size", 32),
        ("data.path", str(MNIST_DIR)), *overrides]))


def tensors_equal(left, right) -> bool:
    """Deep bit-for-bit equality of nested checkpoint structures."""
    if isinstance(left, torch.Tensor):
        return isinstance(right, torch.Tensor) and torch.equal(left, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(tensors_equal(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(tensors_equal, left, right))
    return left == right


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(folder):
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}

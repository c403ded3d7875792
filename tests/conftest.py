"""Shared fixtures: the repository's MNIST copy, tiny run configs, and a trained tiny run."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ganforge.cli import main

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO / "data" / "mnist"

# A run small enough for tests: 256 images in batches of 32 is 8 steps an epoch, each epoch
# scored (the default) on 200 samples.
TINY = ["--data-dir", str(MNIST_DIR), "--batch-size", "32", "--set", "data.limit=256",
        "--set", "train.num_samples=16", "--set", "train.eval_samples=200", "--device", "cpu"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """Tests never download (a missing file must fail at once) and keep caches to themselves."""
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def train_tiny(out: Path, *extra: str) -> int:
    return main(["train", *TINY, "--out", str(out), *extra])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 2-epoch dcgan28 run, shared read-only by the tests that need a checkpoint."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    os.environ["GANFORGE_OFFLINE"] = "1"
    assert train_tiny(out, "--epochs", "2") == 0
    return out


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


def abstract_image(rng: random.Random) -> Image.Image:
    """Random shapes in random colors on a random background, of a random size and shape."""
    size = (rng.randint(40, 160), rng.randint(40, 160))
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 6)):
        (left, right), (top, bottom) = (sorted(rng.randrange(length) for _ in range(2)) for length in size)
        corners = [left, top, right + 1, bottom + 1]
        color = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(corners, fill=color)
    return image

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.generation import load_generator
from ganforge.sampling import generate
from helpers import train_tiny


def test_sample_png_grid(tiny_run, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", str(tiny_run), "--n", "9", "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width == height == 3 * 28 + 4 * 2  # 3x3 images with 2-px padding


def test_sample_npy_array(tiny_run, tmp_path):
    out = tmp_path / "samples.npy"
    assert main(["sample", str(tiny_run / "checkpoints/last.pt"), "--n", "5", "--out", str(out)]) == 0
    array = np.load(out)
    assert array.shape == (5, 1, 28, 28) and array.dtype == np.uint8
    expected = generate(load_generator(tiny_run), 5, seed=0)
    np.testing.assert_allclose(array / 127.5 - 1, expected.numpy(), atol=1 / 127.5)


def test_sample_folder_of_pngs(tiny_run, tmp_path):
    out = tmp_path / "pngs"
    assert main(["sample", str(tiny_run), "--n", "3", "--out", str(out), "--seed", "4"]) == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["00000.png", "00001.png", "00002.png"]
    assert Image.open(files[0]).size == (28, 28)


def test_same_seed_same_images_and_independent_of_batching(tiny_run):
    generator = load_generator(tiny_run)
    first = generate(generator, 10, seed=7)
    assert first.equal(generate(generator, 10, seed=7))
    # Eval-mode BatchNorm: an image does not depend on the others in its batch.
    np.testing.assert_allclose(generate(generator, 10, seed=7, batch_size=3), first, atol=1e-6)
    assert not first.equal(generate(generator, 10, seed=8))


@pytest.mark.parametrize("n", [0, -3])
def test_sample_rejects_bad_count(tiny_run, tmp_path, n, capsys):
    """The command line refuses it while parsing; the API (for Python callers) likewise."""
    with pytest.raises(SystemExit) as exit_code:
        main(["sample", str(tiny_run), "--n", str(n), "--out", str(tmp_path / "x.png")])
    assert exit_code.value.code == 2
    assert f"argument --n: must be at least 1, got {n}" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="n must be at least 1"):
        ganforge.load(tiny_run).sample(n)
    assert not (tmp_path / "x.png").exists()


@pytest.fixture(scope="module")
def small_generator_run(tmp_path_factory) -> Path:
    """A run of a narrow `dcgan` (ngf 4): cheap to sample by the hundred thousand."""
    out = tmp_path_factory.mktemp("small") / "run"
    assert train_tiny(out, "--max-steps", "1", "--set", "model.name=dcgan", "--set", "model.ngf=4",
                      "--set", "model.ndf=4", "--set", "train.eval_every=0") == 0
    return out


MEASURE_PEAK = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


@pytest.mark.slow
def test_sampling_many_images_keeps_memory_bounded(small_generator_run, tmp_path):
    out = tmp_path / "many.npy"
    result = subprocess.run([sys.executable, "-c", MEASURE_PEAK, sys.executable, "-m", "ganforge",
                             "sample", str(small_generator_run), "--n", "200000", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    code, peak = map(int, result.stdout.splitlines()[-1].split())  # the wrapper's own line
    assert code == 0, result.stderr
    assert peak < 2**30, f"peak RSS {peak / 2**20:.0f} MiB"  # the images alone are 627 MB as floats
    array = np.load(out, mmap_mode="r")
    assert array.shape == (200_000, 1, 28, 28) and array.dtype == np.uint8
    expected = generate(load_generator(small_generator_run), 3000, seed=0)[-5:]  # across a chunk edge
    np.testing.assert_allclose(array[2995:3000] / 127.5 - 1, expected.numpy(), atol=1 / 127.5)
    assert [path.name for path in tmp_path.iterdir()] == ["many.npy"]  # no partial file left


def test_sampling_refuses_up_front_what_the_disk_cannot_hold(tiny_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**5,
                                                                                  10**5))
    for out in (tmp_path / "x.npy", tmp_path / "pngs"):
        assert main(["sample", str(tiny_run), "--n", "1000", "--out", str(out)]) == 2
        assert "free space, or ask for fewer (--n)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_sampling_never_overwrites(tiny_run, tmp_path, capsys):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.png").write_bytes(b"a person's file")
    (tmp_path / "kept.npy").write_bytes(b"a person's file")
    for out in ("kept", "kept.npy"):
        assert main(["sample", str(tiny_run), "--n", "3", "--out", str(tmp_path / out)]) == 2
        assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "kept.npy").read_bytes() == (tmp_path / "kept" / "mine.png").read_bytes()

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.sampling import generate, load_generator


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
    assert main(["sample", str(tiny_run), "--n", str(n), "--out", str(tmp_path / "x.png")]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err

import json
import shutil

import numpy as np
import pytest

from ganforge.cli import main
from ganforge.metrics import real_images


def evaluate_json(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_run_folder_appends_record(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    results = evaluate_json(capsys, str(run), "--n", "300", "--metrics", "fid,classes")
    assert results["samples"] == 300 and results["fid"] > 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "evaluate" and record["fid"] == results["fid"]
    assert json.loads((run / "eval.json").read_text())["fid"] == results["fid"]


def test_real_floor_beats_an_untrained_generator(tiny_run, capsys):
    floor = evaluate_json(capsys, "--real", "--n", "1000", "--metrics", "fid,pr,cs,classes")
    generator = evaluate_json(capsys, str(tiny_run / "checkpoints/last.pt"), "--n", "1000",
                              "--metrics", "fid,pr,cs,classes")
    assert floor["fid"] < generator["fid"] / 100
    assert floor["precision"] > generator["precision"] and floor["recall"] > generator["recall"]
    assert floor["cs"] > generator["cs"] and floor["classes_covered"] >= generator["classes_covered"]


def test_evaluate_arrays_in_any_range(tmp_path, capsys):
    images = real_images("mnist", "test", 500).numpy()
    as_uint8 = np.round((images + 1) * 127.5).astype(np.uint8)
    np.save(tmp_path / "u8.npy", as_uint8[:, 0])  # N x H x W
    np.savez(tmp_path / "unit.npz", images=(as_uint8 / 255.0).astype(np.float32))
    scores = [evaluate_json(capsys, str(tmp_path / name), "--metrics", "fid")["fid"]
              for name in ("u8.npy", "unit.npz")]
    assert abs(scores[0] - scores[1]) < 1e-3


def test_evaluate_folder_of_pngs(tiny_run, tmp_path, capsys):
    assert main(["sample", str(tiny_run), "--n", "40", "--out", str(tmp_path / "pngs")]) == 0
    capsys.readouterr()
    results = evaluate_json(capsys, str(tmp_path / "pngs"), "--metrics", "classes")
    assert results["samples"] == 40


def test_evaluate_rejects_out_of_range_floats(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.full((4, 28, 28), 3.0, dtype=np.float32))
    assert main(["evaluate", str(tmp_path / "bad.npy")]) == 2
    assert "must lie in [0, 1] or [-1, 1]" in capsys.readouterr().err


def test_inception_features_fail_cleanly_offline(tmp_path, monkeypatch, capsys):
    # Either the extra is missing or its weights are not on disk here: one line, exit 2.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    np.save(tmp_path / "x.npy", np.zeros((4, 28, 28), dtype=np.uint8))
    assert main(["evaluate", str(tmp_path / "x.npy"), "--features", "inception"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert "pip install 'ganforge[inception]'" in error or "Inception weights are not on disk" in error


@pytest.mark.parametrize("array, fragment", [
    (np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32),
     "take 1 x 28 x 28 images, got 3 x 32 x 32"),
    (np.full((5, 28, 28), np.nan, dtype=np.float32), "5 of 5 images hold NaN or Inf"),
    (np.full((5, 1, 28, 28), np.inf, dtype=np.float32), "hold NaN or Inf"),
    (np.zeros((1, 28, 28), dtype=np.uint8), "need at least 2"),
    (np.zeros((5, 28, 28), dtype=np.int64), "expected uint8 or float images, got int64"),
    (np.zeros((5, 2, 28, 28, 1), dtype=np.uint8), "expected images shaped"),
])
def test_bad_arrays_get_one_line(tmp_path, capsys, array, fragment):
    np.save(tmp_path / "bad.npy", array)
    assert main(["evaluate", str(tmp_path / "bad.npy"), "--metrics", "fid"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and fragment in error, error


def test_channels_last_arrays_are_read_as_pil_and_numpy_hold_them(tmp_path, capsys):
    images = np.round((real_images("mnist", "test", 300).numpy() + 1) * 127.5).astype(np.uint8)
    np.save(tmp_path / "first.npy", images)
    np.save(tmp_path / "last.npy", images.transpose(0, 2, 3, 1))
    scores = [evaluate_json(capsys, str(tmp_path / name), "--metrics", "fid")["fid"]
              for name in ("first.npy", "last.npy")]
    assert scores[0] == scores[1]


def test_conditional_sources_get_the_conditional_metrics(tmp_path, capsys):
    """A conditional generator is scored per class (an equal number drawn of each); --real
    --conditional gives those numbers' floor; the text output lists the per-class values."""
    from helpers import REPO

    asset = str(REPO / "tests" / "assets" / "mnist-cgan.safetensors")
    drawn = evaluate_json(capsys, asset, "--n", "500", "--metrics", "fid")
    floor = evaluate_json(capsys, "--real", "--conditional", "--n", "500", "--metrics", "fid")
    for results in (drawn, floor):
        assert {"label_accuracy", "intra_fid", "mean_class_recall", "min_class_spread"} <= set(results)
        assert len(results["class_spread"]) == 10
    assert floor["label_accuracy"] > 0.98 and floor["intra_fid"] < drawn["intra_fid"]
    assert main(["evaluate", asset, "--n", "500", "--metrics", "fid"]) == 0
    text = capsys.readouterr().out
    assert "class_spread" in text and "label_accuracy" in text


@pytest.mark.slow
def test_the_inception_path_runs_end_to_end_on_a_fake_weights_file(tmp_path, monkeypatch):
    """A randomly initialised Inception-v3 state dict where --features inception looks: the
    numbers mean nothing, but the day real weights are there the plumbing is known to work."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3",
                                   reason="needs the [inception] extra (torch-fidelity)")
    import torch
    from PIL import Image

    from ganforge.config import DataConfig
    from ganforge.metrics import evaluate
    from ganforge.metrics.features import feature_network, file_sha256, inception_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    extractor = fidelity.FeatureExtractorInceptionV3
    with monkeypatch.context() as patched:  # build one without weights, to learn its state dict
        patched.setattr(torch, "load", lambda *args, **kwargs: {})
        patched.setattr(extractor, "load_state_dict", lambda self, state_dict: None)
        torch.manual_seed(0)
        random_inception = extractor("inception-v3-compat", ["2048", "logits_unbiased"],
                                     feature_extractor_weights_path="unused")
    path = inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(random_inception.state_dict(), path)
    folder = tmp_path / "reference"
    folder.mkdir()
    torch.manual_seed(1)
    for index in range(16):
        pixels = (torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{index}.png")
    held_half = DataConfig(name="folder", path=str(folder), image_size=32, channels=3, holdout=0.5)
    scores = evaluate(torch.rand(8, 3, 32, 32) * 2 - 1, "folder", ("fid", "pr"),
                      features="inception", data=held_half)
    assert scores["samples"] == 8 and scores["fid"] >= 0
    assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
    # the weights are the file just written: its hash keys the cached reference features
    assert feature_network("inception", "folder").key == f"inception-{file_sha256(path)[:16]}"

"""The Python API (`import ganforge`): what a notebook user calls, and what the CLI calls."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from helpers import MNIST_DIR, REPO, TINY, snapshot

# conftest's TINY flags as API keywords.
TINY_KWARGS = {"data_dir": MNIST_DIR, "batch_size": 32, "device": "cpu",
               "overrides": {"data.limit": 256, "train.num_samples": 16, "train.eval_samples": 200}}
ASSETS = Path(__file__).parents[1] / "assets"
TIMINGS = {"seconds", "images_per_s"}  # the only numbers two identical runs may differ in


def without_timings(records):
    return [{key: value for key, value in record.items() if key not in TIMINGS} for record in records]


def test_train_writes_what_the_cli_writes(tmp_path):
    """Same config, same folder: the same files and the same metrics (to 1e-6)."""
    run = ganforge.train(out=str(tmp_path / "api"), epochs=1, progress=False, **TINY_KWARGS)
    assert isinstance(run, ganforge.Run) and run.interrupted is None and run.step == 8
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "cli")]) == 0

    def files(root: Path) -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                      if path.is_file() and "tensorboard" not in path.parts)

    assert files(tmp_path / "api") == files(tmp_path / "cli")
    assert (tmp_path / "api" / "config.yaml").read_text() == (tmp_path / "cli" / "config.yaml").read_text()
    api_records = without_timings(ganforge.load(tmp_path / "api").metrics(None))
    cli_records = without_timings(ganforge.load(tmp_path / "cli").metrics(None))
    assert [record.keys() for record in api_records] == [record.keys() for record in cli_records]
    for api_record, cli_record in zip(api_records, cli_records):
        for key, value in api_record.items():
            assert value == pytest.approx(cli_record[key], abs=1e-6), key


def test_run_in_python(tiny_run, tmp_path):
    run = ganforge.load(str(tiny_run))
    assert ganforge.load(tiny_run).root == run.root  # str and Path alike
    assert run.config.train.epochs == 2 and run.step == 16
    images = run.sample(10, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (10, 1, 28, 28)
    assert torch.equal(images, run.sample(10, seed=3)) and not torch.equal(images, run.sample(10, seed=4))
    assert torch.equal(run.sample(4, seed=3), images[:4])  # image k does not depend on n
    grid = run.grid(9)
    assert isinstance(grid, Image.Image) and grid.size == (3 * 28 + 4 * 2,) * 2
    assert [record["epoch"] for record in run.metrics()] == [1, 2]
    assert all("fid" in record for record in run.metrics("eval"))
    assert "FID" in repr(run) and str(tiny_run) in repr(run)


def test_repr_html_shows_the_grid_and_the_epoch_table(tiny_run):
    page = ganforge.load(tiny_run)._repr_html_()
    assert '<img src="data:image/png;base64,' in page
    assert "<table>" in page and page.count("<tr>") == 1 + 2  # header + one row per epoch
    assert f"{ganforge.load(tiny_run).metrics()[-1]['loss_d']:.3f}" in page
    assert "FID" in page


def test_a_bad_override_raises_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(ganforge.ConfigError) as error:
        ganforge.train(out=out, progress=False, overrides={"train.lr_d": -1}, **{
            key: value for key, value in TINY_KWARGS.items() if key != "overrides"})
    assert not out.exists()
    # The CLI prints the same message.
    assert main(["train", "--set", "train.lr_d=-1", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"ganforge: error: {error.value}"
    assert not out.exists()
    with pytest.raises(ganforge.ConfigError, match="unknown"):
        ganforge.train(out=out, overrides=["train.lr_dd=1"])
    with pytest.raises(TypeError, match="epoch"):
        ganforge.train(out=out, epoch=3)
    with pytest.raises(TypeError, match="the shorthands are epochs, max_steps"):
        ganforge.make_config(epoch=3)
    assert not out.exists()


def test_resume_refuses_a_changed_experiment_and_continues_an_unchanged_one(tiny_run, tmp_path):
    before = snapshot(tiny_run)
    with pytest.raises(ganforge.ConfigError, match="force=True"):
        ganforge.resume(tiny_run, overrides={"train.lr_g": 1e-3})
    finished = ganforge.resume(str(tiny_run), progress=False)  # already done: nothing to do
    assert finished.step == 16 and snapshot(tiny_run) == before


def test_load_generator_gives_the_runs_images_from_every_export(tiny_run, tmp_path):
    run = ganforge.load(tiny_run)
    expected = run.sample(16, seed=5).int()
    for fmt in ("torchscript", "onnx", "safetensors"):
        path = run.export(fmt, out=str(tmp_path / f"g-{fmt}"))
        generator = ganforge.load_generator(str(path))
        assert (generator.sample(16, seed=5).int() - expected).abs().max() <= 1, fmt
    generator = ganforge.load_generator(tiny_run)
    z = torch.randn(4, generator.z_dim)
    images = generator(z)
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    assert torch.equal(images, generator(z))


def test_conditional_generator_draws_the_label_asked_for():
    generator = ganforge.load_generator(ASSETS / "mnist-cgan.safetensors")
    assert generator.num_classes == 10
    sevens = generator.sample(32, seed=0, label=7)
    assert sevens.shape == (32, 1, 28, 28)
    scores = ganforge.evaluate(sevens, metrics=["classes"], data_dir=MNIST_DIR)
    assert scores["class_histogram"][7] >= 0.9, scores
    with pytest.raises(ganforge.ConfigError, match=r"label must be in 0..9"):
        generator.sample(8, label=10)


def test_evaluate_takes_images_in_memory():
    real = ganforge.evaluate(real=True, n=500, metrics=["fid"], data_dir=MNIST_DIR)
    from ganforge.metrics import real_images

    images = real_images("mnist", "train", 500, str(MNIST_DIR))
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    for form in (as_uint8, as_uint8.numpy(), as_uint8.numpy().transpose(0, 2, 3, 1)):
        scores = ganforge.evaluate(form, dataset="mnist", metrics=["fid"], data_dir=MNIST_DIR)
        assert scores["samples"] == 500 and scores["dataset"] == "mnist"
        assert scores["fid"] == pytest.approx(real["fid"], rel=0.02)
    noise = ganforge.evaluate(np.random.default_rng(0).random((500, 28, 28)), metrics=["fid"],
                              data_dir=MNIST_DIR)
    assert noise["fid"] > 20 * real["fid"]


def test_evaluate_of_a_run_is_kept_with_it(tiny_run, tmp_path):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    scores = ganforge.load(run_copy).evaluate(n=200, metrics=["fid"], data_dir=MNIST_DIR)
    assert json.loads((run_copy / "eval.json").read_text())["fid"] == scores["fid"]
    assert ganforge.load(run_copy).fid == scores["fid"]
    assert ganforge.load(run_copy).report() == run_copy / "report.html"


def test_epoch_lines_go_to_the_ganforge_logger(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ganforge"):
        ganforge.train(out=tmp_path / "run", max_steps=4, progress=False, **TINY_KWARGS)
    lines = [record.getMessage() for record in caplog.records if record.name == "ganforge"]
    assert lines[0].startswith("ganforge: training dcgan28 on mnist")
    assert any(line.startswith("epoch 1/") and "FID" not in line for line in lines)  # stopped early


def test_no_submodule_hides_an_api_name():
    """Importing every module of the package leaves `ganforge.train` & co. the API's functions
    (a submodule of the same name would replace the attribute when first imported)."""
    import importlib
    import pkgutil
    import types

    for module in pkgutil.walk_packages(ganforge.__path__, "ganforge."):
        if module.name != "ganforge.__main__":  # the entry point runs the CLI
            importlib.import_module(module.name)
    for name in ganforge.__all__:
        assert not isinstance(getattr(ganforge, name), types.ModuleType), name


def test_presets_names_and_descriptions():
    presets = ganforge.presets()
    assert "mnist-dcgan" in presets and "mnist-cgan" in presets
    assert all(isinstance(text, str) and text for text in presets.values())


def test_make_config_from_preset_file_or_config(tmp_path):
    config = ganforge.make_config("mnist-dcgan", epochs=3, overrides={"train.lr_d": 4e-4})
    assert config.train.epochs == 3 and config.train.lr_d == 4e-4
    path = tmp_path / "mine.yaml"
    path.write_text((REPO / "src" / "ganforge" / "preset_configs" / "mnist-dcgan.yaml").read_text())
    assert ganforge.make_config(path) == ganforge.make_config(str(path)) == ganforge.make_config()
    assert ganforge.make_config(config, overrides=["train.seed=5"]).train.seed == 5


@pytest.mark.slow
def test_import_is_light():
    """`import ganforge` (and so `ganforge --help`) does not pay for importing torch."""
    code = "import sys, ganforge; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


INTERRUPTED = """
import ganforge, sys
run = ganforge.train(out=sys.argv[1], epochs=200, progress=False, data_dir=sys.argv[2], batch_size=32,
                     device="cpu", overrides={"data.limit": 256, "train.eval_every": 0,
                                              "train.num_samples": 16})
print("RESULT", run.interrupted, run.step, flush=True)
"""


@pytest.mark.slow
def test_sigint_during_train_returns_a_resumable_run(tmp_path):
    """The notebook's interrupt button is a SIGINT: `train` stops after the step with a
    checkpoint and returns the Run instead of raising; `resume` continues it."""
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED, str(out), str(MNIST_DIR)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    result = stdout.split("RESULT ")[1].split()
    assert result[0] == "SIGINT"
    step = int(result[1])
    assert 0 < step < 200 * 8
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == step
    run = ganforge.resume(out, max_steps=step + 8, progress=False)
    assert run.interrupted is None and run.step == step + 8

"""Every bad input: one line naming the problem and the fix, exit 2, no traceback, nothing damaged."""

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

import ganforge
from ganforge.runs import checkpoint
from helpers import MNIST_DIR, REPO, TINY, assert_one_line_error, run_cli, snapshot, train_tiny


@pytest.mark.slow
@pytest.mark.parametrize("args, fragments", [
    (["train", "--preset", "mnist-dcgn"], ["unknown preset 'mnist-dcgn'", "did you mean 'mnist-dcgan'"]),
    (["train", "--set", "train.lr_d=abc"], ["train.lr_d: expected a number, got 'abc'"]),
    (["train", "--set", "train.seeed=1"], ["unknown config key 'train.seeed'", "'train.seed'"]),
    (["train", "--batch-size", "0"], ["train.batch_size must be >= 1"]),
    (["train", "--set", "data.rotation_degrees=270"], ["between 0 and 180"]),
    (["train", "--device", "cuda"] if not __import__("torch").cuda.is_available()
     else ["train", "--device", "mps"], ["is not available here"]),
    (["train", "--epochs", "x"], ["argument --epochs: invalid int value"]),
    (["sample", "nowhere.pt", "--out", "x.png"], ["nowhere.pt does not exist"]),
    (["info", "."], ["is not a ganforge run folder"]),
])
def test_bad_arguments(args, fragments, tmp_path):
    assert_one_line_error(run_cli(*args, cwd=tmp_path), *fragments)
    assert not any(tmp_path.iterdir()), "a failed command must not write anything"


@pytest.mark.slow
def test_corrupt_data_file_is_named(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for source in MNIST_DIR.glob("*.gz"):
        (data_dir / source.name).write_bytes(source.read_bytes())
    broken = data_dir / "train-images-idx3-ubyte.gz"
    broken.write_bytes(gzip.compress(gzip.decompress(broken.read_bytes())[:-100], 1))
    result = run_cli("train", "--data-dir", str(data_dir), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, str(broken), "MD5")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_non_checkpoint_file_is_refused(tmp_path):
    fake = tmp_path / "model.pt"
    fake.write_text("not a checkpoint")
    assert_one_line_error(run_cli("sample", str(fake), "--out", str(tmp_path / "x.png")),
                          "is not a readable checkpoint")


@pytest.mark.slow
def test_existing_run_folder_is_not_overwritten(tiny_run, tmp_path):
    before = snapshot(tiny_run)
    result = run_cli("train", *TINY, "--out", str(tiny_run))
    assert_one_line_error(result, "already exists and is not empty", "--resume")
    assert snapshot(tiny_run) == before


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused_on_resume(tiny_run):
    before = snapshot(tiny_run)
    result = run_cli("train", "--resume", str(tiny_run), "--force", "--set", "model.name=mlp")
    assert_one_line_error(result, "holds model 'dcgan28'", "'mlp'")
    assert snapshot(tiny_run) == before


@pytest.mark.slow
def test_resume_with_another_config_names_the_keys(tiny_run):
    before = snapshot(tiny_run)
    result = run_cli("train", "--resume", str(tiny_run), "--set", "train.lr_g=1e-3",
                     "--batch-size", "16")
    assert_one_line_error(result, "train.batch_size, train.lr_g changed", "--force")
    assert snapshot(tiny_run) == before


@pytest.mark.slow
def test_presets_and_info(tiny_run):
    listing = run_cli("presets")
    assert listing.returncode == 0 and "mnist-dcgan" in listing.stdout and "mnist-mlp" in listing.stdout
    info = run_cli("info", str(tiny_run))
    assert info.returncode == 0 and "dcgan28" in info.stdout and '"epoch": 2' in info.stdout


@pytest.mark.slow
def test_module_entry_point_matches_console_script():
    script = Path(sys.executable).with_name("ganforge")  # what pip installed beside this Python
    if not script.is_file():
        pytest.skip("the ganforge console script is not installed beside this Python")
    console = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    module = run_cli("--help")
    assert console.returncode == module.returncode == 0
    assert "train" in console.stdout and "sample" in console.stdout
    assert console.stdout == module.stdout


def test_checkpoint_every_flag_is_the_config_key(tmp_path, monkeypatch):
    saved_steps, save = [], checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda state, path: (saved_steps.append(state["step"]),
                                                                 save(state, path)))
    out = tmp_path / "run"
    assert train_tiny(out, "--max-steps", "7", "--checkpoint-every", "3", "--set",
                      "train.eval_every=0") == 0
    assert "checkpoint_every: 3" in (out / "config.yaml").read_text()
    assert saved_steps == [3, 6, 7]  # inside the 8-step epoch, then where --max-steps stopped it


@pytest.mark.slow
@pytest.mark.parametrize("data_dir, fragment", [
    ("nowhere", "nowhere (data.path) is not a folder"),
    ("empty", "empty holds no train-images-idx3-ubyte"),
])
def test_a_named_data_folder_must_hold_the_data(tmp_path, data_dir, fragment):
    (tmp_path / "empty").mkdir()
    # ./data holds MNIST here, so a silent fallback to the search order would train.
    (tmp_path / "data").symlink_to(MNIST_DIR)
    result = run_cli("train", "--data-dir", str(tmp_path / data_dir), "--out", str(tmp_path / "run"),
                     cwd=tmp_path)
    assert_one_line_error(result, fragment, "drop --data-dir")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ganforge {ganforge.__version__}"


@pytest.mark.slow
@pytest.mark.parametrize("command", [["presets"], ["info", "RUN"]])
def test_output_into_a_closed_pipe_ends_quietly(tiny_run, command):
    command = [str(tiny_run) if word == "RUN" else word for word in command]
    process = subprocess.Popen([sys.executable, "-m", "ganforge", *command], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first write, as after `| head -1`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr  # 128 + SIGPIPE, as a Unix tool's
    assert stderr == ""

"""Interrupted, corrupted, diverging and hostile input never lose work or run code."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.cli import main
from ganforge.config import Config, config_from_dict
from ganforge.errors import ConfigError
from ganforge.runs import RunDir, checkpoint
from ganforge.training import trainer as trainer_module
from helpers import REPO, TINY, assert_one_line_error, run_cli, snapshot, tensors_equal, train_tiny

COMPARED = ("generator", "discriminator", "optimizer_g", "optimizer_d", "rng", "step")


def ganforge_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganforge", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def start_training(out: Path, *extra: str) -> subprocess.Popen:
    return ganforge_process("train", *TINY, "--out", str(out), *extra)


def resume_process(out: Path) -> subprocess.Popen:
    return ganforge_process("train", "--resume", str(out))


def wait_for_training(process: subprocess.Popen, out: Path) -> None:
    """Until the run folder has its config (written just before the first step)."""
    deadline = time.monotonic() + 120
    while not (out / "config.yaml").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_and_resumes(tmp_path, signal_number, exit_code):
    out = tmp_path / "run"
    process = start_training(out, "--epochs", "400")
    wait_for_training(process, out)
    time.sleep(1.0)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert f"ganforge train --resume {out}" in stderr and "Traceback" not in stderr
    state = checkpoint.load(out / "checkpoints/last.pt")
    assert 0 < state["step"] < 400 * 8
    assert main(["train", "--resume", str(out), "--max-steps", str(state["step"] + 3)]) == 0
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == state["step"] + 3


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_one_run(tmp_path):
    extra = ("--epochs", "10", "--set", "train.checkpoint_every=3")
    assert train_tiny(tmp_path / "whole", *extra) == 0
    out = tmp_path / "killed"
    rng = random.Random(1234)
    process, killed_mid_run = start_training(out, *extra), 0
    for _ in range(3):
        process.stdout.readline()  # "training ..." or "resuming ...": the first step is next
        time.sleep(rng.uniform(0.1, 2.0))
        killed_mid_run += process.poll() is None
        process.kill()
        process.wait()
        process = resume_process(out)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert killed_mid_run == 3
    whole = checkpoint.load(tmp_path / "whole/checkpoints/last.pt")
    resumed = checkpoint.load(out / "checkpoints/last.pt")
    for key in COMPARED:
        assert tensors_equal(whole[key], resumed[key]), key


def test_run_killed_before_its_first_checkpoint_starts_over(tiny_run, tmp_path):
    out = tmp_path / "fresh"
    out.mkdir()
    shutil.copy(tiny_run / "config.yaml", out / "config.yaml")
    assert main(["train", "--resume", str(out)]) == 0
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == 16


def test_same_seed_gives_bit_identical_checkpoints(tmp_path):
    for name in ("a", "b"):
        assert train_tiny(tmp_path / name, "--max-steps", "6") == 0
    first = checkpoint.load(tmp_path / "a/checkpoints/last.pt")
    second = checkpoint.load(tmp_path / "b/checkpoints/last.pt")
    for key in COMPARED:
        assert tensors_equal(first[key], second[key]), key


def nan_at(monkeypatch, *bad_steps: int) -> None:
    """Make the training step report a NaN loss at the given (1-based) steps, once each."""
    real_step, calls, remaining = trainer_module.train_step, [0], set(bad_steps)

    def step(gan, real_images, z, labels=None, generator_step=True, regularize=True, fresh_z=None):
        calls[0] += 1
        stats = real_step(gan, real_images, z, labels, generator_step, regularize, fresh_z=fresh_z)
        if calls[0] in remaining:
            remaining.discard(calls[0])
            stats = stats.clone()
            stats[0] = float("nan")
        return stats

    monkeypatch.setattr(trainer_module, "train_step", step)


def test_nan_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    nan_at(monkeypatch, 6)
    code = train_tiny(out, "--epochs", "2", "--set", "train.checkpoint_every=4")
    assert code == 3
    error = capsys.readouterr().err.strip()
    assert "NaN/Inf at step 6" in error and "train.on_nan=rollback" in error
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == 4
    assert RunDir(out).read_metrics()[-1] == {"event": "diverged", "step": 6}


def test_nan_rollback_halves_learning_rates_and_finishes(tmp_path, monkeypatch):
    out = tmp_path / "run"
    nan_at(monkeypatch, 6)
    code = train_tiny(out, "--epochs", "2", "--set", "train.checkpoint_every=4",
                      "--set", "train.on_nan=rollback")
    assert code == 0
    state = checkpoint.load(out / "checkpoints/last.pt")
    assert state["step"] == 16 and state["rollbacks"] == 1
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    events = [r for r in RunDir(out).read_metrics() if r["event"] == "rollback"]
    assert events == [{"event": "rollback", "step": 6, "to_step": 4, "lr_scale": 0.5}]


def test_full_disk_stops_cleanly_keeping_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real_save, calls = checkpoint.save, [0]

    def save(state, path):
        calls[0] += path.name == "last.pt"
        if calls[0] == 2:  # the disk fills between the first and second epoch's checkpoints
            raise OSError(28, "No space left on device")
        real_save(state, path)

    monkeypatch.setattr(checkpoint, "save", save)
    assert train_tiny(out, "--epochs", "2") == 2
    error = capsys.readouterr().err
    assert "No space left on device" in error and f"--resume {out}" in error
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == 8
    assert not list((out / "checkpoints").glob("*.tmp"))


@pytest.mark.slow
def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(run_cli("train", *TINY, "--out", str(blocker / "run")),
                          "cannot create run folder")


@pytest.mark.slow
def test_checkpoint_of_another_shape_is_refused_on_resume(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    state = checkpoint.load(run / "checkpoints/last.pt")
    weight = state["generator"]["state_dict"]["net.0.weight"]
    state["generator"]["state_dict"]["net.0.weight"] = weight[:32]  # as if z_dim were 32
    checkpoint.save(state, run / "checkpoints/last.pt")
    before = snapshot(run)
    assert_one_line_error(run_cli("train", "--resume", str(run), "--max-steps", "20"),
                          "does not fit the configured model")
    assert snapshot(run) == before


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                   st.lists(st.floats(-2, 2), max_size=3))
KEYS = st.sampled_from(["name", "path", "limit", "rotation_degrees", "hflip", "z_dim",
                        "real_label", "fake_label", "epochs", "batch_size", "lr_g", "betas_d",
                        "device", "on_nan", "bogus"])
SECTIONS = st.dictionaries(st.sampled_from(["data", "model", "loss", "train", "extra"]),
                           st.one_of(st.dictionaries(KEYS, VALUES, max_size=4), VALUES),
                           max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SECTIONS)
def test_any_config_dictionary_validates_or_fails_with_one_line(values):
    try:
        assert isinstance(config_from_dict(values), Config)
    except ConfigError as error:
        assert str(error) and "\n" not in str(error)

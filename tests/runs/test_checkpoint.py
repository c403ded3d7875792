"""ganforge.runs.checkpoint: atomic, weights-only files that refuse what they cannot trust."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from ganforge.errors import CheckpointError
from ganforge.runs import checkpoint
from helpers import assert_one_line_error, run_cli, tensors_equal


def test_a_checkpoint_round_trips_bit_for_bit(tmp_path):
    state = {"format": checkpoint.FORMAT, "ganforge_version": "0.1.0", "step": 7,
             "generator": {"name": "dcgan28", "state_dict": {"w": torch.randn(3, 4), "b": torch.arange(5)}},
             "rng": [torch.ByteTensor(8).random_()], "best_fid": float("inf")}
    checkpoint.save(state, tmp_path / "last.pt")
    loaded = checkpoint.load(tmp_path / "last.pt")
    assert tensors_equal(loaded, state) and loaded["best_fid"] == float("inf")
    assert [path.name for path in tmp_path.iterdir()] == ["last.pt"]  # no partial file left


def test_a_view_into_a_larger_tensor_is_saved_alone(tmp_path):
    """A run trained in a stack holds views of the stack's tensors: its checkpoint is its own size."""
    stacked = torch.randn(16, 256, 256)
    state = {"format": checkpoint.FORMAT, "generator": {"state_dict": {"w": stacked[3]}}}
    checkpoint.save(state, tmp_path / "last.pt")
    assert (tmp_path / "last.pt").stat().st_size < 2 * stacked[3].nbytes
    assert torch.equal(checkpoint.load(tmp_path / "last.pt")["generator"]["state_dict"]["w"], stacked[3])


def test_a_pickled_object_is_refused_in_process(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format": 1, "generator": CreatesAFile(marker)}, tmp_path / "evil.pt", pickle_protocol=2)
    with pytest.raises(CheckpointError, match="was not loaded"):
        checkpoint.load(tmp_path / "evil.pt")
    assert not marker.exists()


class CreatesAFile:
    """Unpickling this object would create a file: what a hostile checkpoint would do."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.slow  # (three `ganforge` processes)
def test_malicious_checkpoint_is_refused_and_runs_nothing(tiny_run, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "generator": CreatesAFile(marker)}, evil, pickle_protocol=2)
    with pytest.raises(pickle.UnpicklingError):  # sanity: plain pickle-loading *would* run it
        torch.load(evil, weights_only=True)
    result = run_cli("sample", str(evil), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, "was not loaded (loading it could run code)")
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copy(evil, run / "checkpoints/last.pt")
    assert_one_line_error(run_cli("train", "--resume", str(run), "--max-steps", "20"),
                          "was not loaded")
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_truncated_or_corrupt_checkpoint(tiny_run, tmp_path, damage):
    path = tmp_path / "last.pt"
    content = (tiny_run / "checkpoints/last.pt").read_bytes()
    path.write_bytes(content[: len(content) // 2] if damage == "truncate" else os.urandom(4096))
    assert_one_line_error(run_cli("sample", str(path), "--out", str(tmp_path / "x.png")),
                          "is not a readable checkpoint")


@pytest.mark.slow
def test_checkpoint_from_a_newer_ganforge(tiny_run, tmp_path):
    state = checkpoint.load(tiny_run / "checkpoints/last.pt")
    state["ganforge_version"] = "99.0.0"
    path = tmp_path / "future.pt"
    checkpoint.save(state, path)
    assert_one_line_error(run_cli("sample", str(path), "--out", str(tmp_path / "x.png")),
                          "written by ganforge 99.0.0, newer than this")



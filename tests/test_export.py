"""Exported generators compute what the checkpoint computes, and load without ganforge."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.export import FORMATS, export, load_exported
from ganforge.models import build_generator
from ganforge.models.layers import balanced_labels
from helpers import run_cli

GENERATORS = {
    "dcgan28": {"z_dim": 16, "channels": 1, "image_size": 28},
    "mlp": {"z_dim": 16, "channels": 1, "image_size": 28},
    "dcgan": {"z_dim": 16, "channels": 3, "image_size": 64, "ngf": 8, "num_classes": 10},
}


def trained_looking(name: str) -> torch.nn.Module:
    """A generator whose BatchNorm running statistics are not the trivial 0 and 1."""
    torch.manual_seed(0)
    generator = build_generator(name, **GENERATORS[name])
    with torch.no_grad():
        for _ in range(3):
            z = torch.randn(32, generator.z_dim)
            generator(z, balanced_labels(32, generator.num_classes))
    return generator.eval()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_exported_generator_matches_the_original(tmp_path, name, fmt):
    generator = trained_looking(name)
    out = tmp_path / f"generator{FORMATS[fmt]}"
    spec = {"name": name, "kwargs": GENERATORS[name]}
    sidecar = export(copy.deepcopy(generator), spec, fmt, out, {"fid": 1.5})
    loaded = load_exported(out)

    z = torch.randn(5, 16)  # a batch size other than the one traced
    labels = torch.tensor([3, 1, 4, 1, 5]) if generator.num_classes else None
    with torch.no_grad():
        expected, actual = generator(z, labels), loaded(z, labels)
    assert actual.shape == expected.shape == (5, *sidecar["image_shape"])
    assert (actual - expected).abs().max() < 1e-4
    written = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert written["z_dim"] == 16 and written["fid"] == 1.5 and written["value_range"] == [-1, 1]
    assert written["inputs"] == (["z", "labels"] if generator.num_classes else ["z"])


@pytest.mark.slow
def test_torchscript_runs_with_plain_torch(tmp_path):
    out = tmp_path / "g.ts"
    export(trained_looking("dcgan"), {"name": "dcgan", "kwargs": GENERATORS["dcgan"]}, "torchscript",
           out, {})
    code = (f"import sys, torch; g = torch.jit.load({str(out)!r}); "
            "images = g(torch.randn(3, 16), torch.tensor([0, 1, 2])); "
            "print(tuple(images.shape), 'ganforge' in sys.modules, bool(images.abs().max() <= 1))")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.split("\n")[0] == "(3, 3, 64, 64) False True"


def test_export_and_sample_from_the_command_line(tiny_run, tmp_path):
    checkpoint_images = tmp_path / "from-checkpoint.npy"
    assert main(["sample", str(tiny_run), "--n", "8", "--seed", "3", "--out", str(checkpoint_images)]) == 0
    for fmt, suffix in FORMATS.items():
        out = tmp_path / f"g{suffix}"
        assert main(["export", str(tiny_run), "--format", fmt, "--out", str(out)]) == 0
        sampled = tmp_path / f"from-{fmt}.npy"
        assert main(["sample", str(out), "--n", "8", "--seed", "3", "--out", str(sampled)]) == 0
        difference = np.abs(np.load(sampled).astype(int) - np.load(checkpoint_images).astype(int))
        assert difference.max() <= 1  # uint8 rounding of float outputs equal within 1e-4
        assert json.loads((tmp_path / f"g{suffix}.json").read_text())["step"] == 16


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_under_pytorchs_own_suffix(tiny_run, tmp_path):
    out = tmp_path / "g.pt"
    result = run_cli("export", str(tiny_run), "--format", "torchscript", "--out", str(out))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    images = torch.jit.load(str(out))(torch.zeros(2, 64))
    assert images.shape == (2, 1, 28, 28)
    assert main(["sample", str(out), "--n", "4", "--out", str(tmp_path / "from-pt.npy")]) == 0
    assert main(["sample", str(tiny_run), "--n", "4", "--out", str(tmp_path / "from-run.npy")]) == 0
    assert np.abs(np.load(tmp_path / "from-pt.npy").astype(int)
                  - np.load(tmp_path / "from-run.npy").astype(int)).max() <= 1


@pytest.mark.slow
def test_a_suffix_naming_another_format_warns_and_the_sidecar_decides(tiny_run, tmp_path):
    out = tmp_path / "g.onnx"
    result = run_cli("export", str(tiny_run), "--format", "torchscript", "--out", str(out))
    assert result.returncode == 0
    assert result.stderr.count("\n") == 1 and "ends in .onnx, the onnx suffix, but holds torchscript" \
        in result.stderr
    assert isinstance(load_exported(out).run, torch.jit.ScriptModule)


def test_export_writes_into_the_run_folder_by_default(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["export", str(run / "checkpoints" / "last.pt"), "--format", "onnx"]) == 0
    assert (run / "export" / "generator.onnx").is_file()
    assert json.loads((run / "export" / "generator.onnx.json").read_text())["format"] == "onnx"


def test_a_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no ganforge generator spec"):
        load_exported(path)
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(b"")
    with pytest.raises(GanforgeError, match="no sidecar"):
        load_exported(bare)

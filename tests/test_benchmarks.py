"""The benchmark scripts behind the docs' tables still import what they use (a renamed function
would otherwise surface only when someone reruns a table)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MNIST_DIR

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_a_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))  # as when run: its siblings are importable
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the module level only: main() runs under __main__
    assert callable(module.main)


def test_throughput_runs_past_an_epoch_on_both_sides(monkeypatch, capsys):
    """The smallest real run: 128 images are 4 batches of 32 and each side runs 6 steps, so both
    sides' batches run out and are renewed (the notebook side's DataLoader once was not), and the
    rates are printed."""
    monkeypatch.syspath_prepend(str(BENCHMARKS[0].parent))
    import throughput

    throughput.main(["--preset", "mnist-mlp", "--steps", "5", "--rounds", "1", "--warmup", "1",
                     "--limit", "128", "--data-dir", str(MNIST_DIR)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("mnist-mlp") and "ratio" in lines[1], lines
    assert "of float32" in lines[2], lines


@pytest.mark.parametrize("section", ["ceilings", "sync", "agreement", "steps"])
def test_the_gpu_checks_in_process_parts_run_on_the_cpu(section, monkeypatch, capsys):
    """gpu_check.py's sections at toy sizes on the CPU (no capture there): they run and print
    their result lines, so a lent GPU's few minutes are not spent finding a typo."""
    monkeypatch.syspath_prepend(str(BENCHMARKS[0].parent))
    import gpu_check

    gpu_check.main([section, "--device", "cpu", "--quick", "--presets", "mnist-cgan"])
    out = capsys.readouterr().out
    expected = {"ceilings": "matmul peaks: float32", "sync": "sync mnist-cgan: ok",
                "agreement": "within 1e-4", "steps": "step bf16 batch 64"}[section]
    assert expected in out, out


@pytest.mark.slow
def test_the_gpu_acceptance_script_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh end to end on the CPU at toy sizes: every part leaves its line in
    the summary, none fails."""
    script = BENCHMARKS[0].parent / "gpu_check.sh"
    env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_QUICK": "1", "GPU_CHECK_EPOCHS": "2",
           "GPU_CHECK_PRESETS": "mnist-dcgan", "PYTHON": sys.executable}
    subprocess.run(["bash", str(script), str(tmp_path)], env=env, check=True, capture_output=True,
                   timeout=600)
    summary = (tmp_path / "summary.txt").read_text()
    for part in ("ceilings: matmul", "tests: 1 passed", "sync: sync mnist-dcgan: ok", "agreement:",
                 "steps: step fp32", "default: exit 0", "compile: left out", "presets: preset mnist-dcgan",
                 "throughput: mnist-dcgan"):
        assert part in summary, summary
    assert "exit 1" not in summary and "FAILED" not in summary, summary

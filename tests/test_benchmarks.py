"""The benchmark scripts behind the docs' tables still import what they use (a renamed function
would otherwise surface only when someone reruns a table)."""

import importlib.util
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

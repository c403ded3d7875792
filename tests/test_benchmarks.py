"""Every benchmark script behind the docs' tables runs its smallest setting for real (a renamed
function or a changed record would otherwise surface only when someone reruns a table)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ganforge.api
from helpers import MNIST_DIR, REPO

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))

# Each script's smallest run ({out}: a fresh folder; {folder}: 200 MNIST digits as 64 px PNGs;
# {run}: a trained tiny run) and a line fragment its table prints. throughput and gpu_check
# run in-process below.
SMALLEST = {
    "conditional_targets": (["--max-minutes", "0.01", "--seeds", "0", "--out", "{out}", "--set",
                             "data.limit=256", "--set", "train.batch_size=32", "--set",
                             "train.eval_every=0"], "| 0 | "),
    "eval_speed": (["{run}", "--n", "200", "--metrics", "fid"], "fid"),
    "folder_targets": (["--presets", "folder-dcgan64-cpu", "--minutes", "0.01", "--folder", "{folder}",
                        "--images", "64", "--n", "200", "--out", "{out}"], "| folder-dcgan64-cpu |"),
    "mnist64_target": (["--folder", "{folder}", "--minutes", "0.01", "--n", "200", "--out", "{out}"],
                       "folder / default:"),
    "preset_fids": (["--max-minutes", "0.01", "--preset", "mnist-mlp", "--n", "200", "--out", "{out}",
                     "--device", "cpu"], "| `mnist-mlp` |"),
    "random_features_calibration": (["--folder", "{folder}", "--out", "{out}", "--steps", "4", "--n",
                                     "200"], "Spearman rank correlation"),
    "stacked_mnist": (["--presets", "stacked-r3gan", "--images", "640", "--seeds", "0", "--n", "500",
                       "--out", "{out}", "--set", "data.stacked_count=1000"], "| `stacked-r3gan` | 0 |"),
    "time_to_quality": (["--max-minutes", "0.01", "--preset", "mnist-mlp"], "mnist-mlp"),
    "together": (["--runs", "2", "--steps", "2", "--rounds", "1"], "| together: stack |"),
}


def test_every_benchmark_has_a_smallest_run():
    assert {path.stem for path in BENCHMARKS} == {*SMALLEST, "throughput", "gpu_check"}


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bench") / "mnist64"
    ganforge.api.export_dataset("mnist", folder, size=64, limit=200, data_dir=MNIST_DIR)
    return folder


@pytest.mark.slow  # (each trains for a second and scores in its own processes: 6-30 s)
@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_a_benchmark_runs_its_smallest_setting(name, digit_folder, tiny_run, tmp_path):
    args, expected = SMALLEST[name]
    args = [arg.format(out=tmp_path / "out", folder=digit_folder, run=tiny_run) for arg in args]
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args],
                            capture_output=True, text=True, cwd=REPO, timeout=300,
                            env={**os.environ, "GANFORGE_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout, result.stdout[-2000:]


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
                 "throughput: mnist-dcgan", "together: together: 2 seeds of mnist-dcgan",
                 "course: left out"):
        assert part in summary, summary
    assert "exit 1" not in summary and "FAILED" not in summary, summary

"""Sweeps: spec expansion and validation, a 2x2 grid of tiny runs with its results table, resume
of a finished and an interrupted trial, a restart of one killed before its first checkpoint, and
an Optuna study stored in SQLite."""

from __future__ import annotations

import csv
import sqlite3

import pytest
import yaml

from ganforge.cli import main
from ganforge.config import dump_yaml
from ganforge.errors import ConfigError
from ganforge.runs import RunDir
from ganforge.sweep import expand, load_spec, trial_config
from helpers import MNIST_DIR, train_tiny

TINY_TRIAL = {"data.limit": 64, "train.num_samples": 16, "train.epochs": 1, "train.log_every": 2}
RUN_FLAGS = ["--data-dir", str(MNIST_DIR), "--device", "cpu"]


def write_spec(folder, **values):
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_a_grid_is_every_combination_each_validated(tmp_path):
    spec = load_spec(write_spec(tmp_path, base="mnist-course",
                                grid={"train.batch_size": [64, 128], "model.z_dim": [32, 64, 128]}))
    trials = expand(spec)
    names = [trial.name for trial in trials]
    assert names[:2] == ["000-batch_size=64-z_dim=32", "001-batch_size=64-z_dim=64"]
    assert len({trial.name for trial in trials}) == 6
    assert {(t.overrides["train.batch_size"], t.overrides["model.z_dim"]) for t in trials} == \
        {(batch, z) for batch in (64, 128) for z in (32, 64, 128)}
    assert trial_config(spec, trials[-1].overrides).model.z_dim == 128


@pytest.mark.parametrize(("values", "message"), [
    ({"grid": {"train.batch_sise": [1, 2]}}, "trial 000-batch_sise=1: unknown config key"),
    ({"trials": [{}, {"train.lr_g": 5}]}, "trial 001-lr_g=5: train.lr_g must be a learning rate"),
    ({"grid": {"train.epochs": [1]}, "trials": [{}]}, "either grid or trials"),
    ({"grid": {"train.epochs": 3}}, "grid.train.epochs must be a non-empty list"),
    ({"gird": {}}, "unknown sweep key 'gird'"),
    ({"seeds": 0}, "seeds must be a count >= 1"),
    ({"seeds": [0, 0]}, "a list of different seeds"),
    ({"seeds": True}, "seeds must be a count"),
    ({"seeds": 2, "grid": {"train.seed": [1, 2]}}, "seeds and train.seed conflict"),
    ({"budget": {"images": 0}}, "budget must be one of"),
    ({"budget": {"images": 100, "minutes": 1}}, "budget must be one of"),
    ({"budget": {"epochs": 3}}, "budget must be one of"),
    ({"budget": {"images": 1000}, "overrides": {"train.epochs": 5}},
     "budget images and train.epochs conflict"),
    ({"budget": {"minutes": 2}, "trials": [{"train.max_steps": 5}]},
     "budget minutes and train.max_steps conflict"),
])
def test_a_bad_spec_is_refused_before_anything_runs(tmp_path, values, message):
    with pytest.raises(ConfigError, match=message):
        expand(load_spec(write_spec(tmp_path, base="mnist-dcgan", **values)))


def test_seeds_run_every_trial_on_each_seed_and_a_budget_sets_every_length(tmp_path):
    spec = load_spec(write_spec(tmp_path, base="mnist-dcgan", seeds=[3, 5], budget={"images": 6400},
                                trials=[{}, {"train.batch_size": 128}]))
    runs = expand(spec)
    assert [run.folder for run in runs] == ["000-base-seed3", "000-base-seed5",
                                            "001-batch_size=128-seed3", "001-batch_size=128-seed5"]
    configs = [trial_config(spec, run.overrides, seed=run.seed) for run in runs]
    assert [config.train.seed for config in configs] == [3, 5, 3, 5]
    assert {config.train.max_images for config in configs} == {6400}
    assert spec.budget_words() == "6,400 training images per run (train.max_images)"
    assert load_spec(write_spec(tmp_path, seeds=3)).seed_list == [0, 1, 2]
    # A command-line --set may not undo the spec's seeds or budget either.
    with pytest.raises(ConfigError, match="--set: budget images and train.epochs conflict"):
        expand(spec, [("train.epochs", 3)])
    with pytest.raises(ConfigError, match="--set: seeds and train.seed conflict"):
        expand(spec, [("train.seed", 1)])


def test_the_course_seeds_and_loss_study_sweeps_ship_their_settings_on_three_seeds():
    from helpers import REPO

    runs = expand(load_spec(REPO / "sweeps" / "course-hparams.yaml"))
    assert len(runs) == 6 * 3 and runs[0].overrides == {} and [run.seed for run in runs[:3]] == [0, 1, 2]
    spec = load_spec(REPO / "sweeps" / "seeds.yaml")
    assert len(expand(spec)) == 6 * 3 and spec.budget == {"images": 180000}
    # R3GAN's loss study: the preset's RpGAN against the GAN loss, R1 and R2 kept in both.
    spec = load_spec(REPO / "sweeps" / "stacked-losses.yaml")
    runs = expand(spec)
    assert spec.base == "stacked-r3gan" and spec.eval_samples == 26000
    assert [(run.overrides, run.seed) for run in runs] == [
        (overrides, seed) for overrides in ({}, {"loss.name": "bce"}) for seed in (0, 1, 2)]
    losses = [trial_config(spec, run.overrides, seed=run.seed).loss for run in runs[::3]]
    assert [(loss.name, loss.r1_weight, loss.r2_weight) for loss in losses] == [
        ("rpgan", 10, 10), ("bce", 10, 10)]
    assert trial_config(spec, {}).train.max_images == 60000


@pytest.mark.slow  # (trains trials in child processes)
def test_a_2x2_sweep_then_resumed(tmp_path, capsys):
    spec = write_spec(tmp_path, base="mnist-dcgan", overrides=TINY_TRIAL, eval_samples=200,
                      grid={"train.batch_size": [16, 32], "model.z_dim": [8, 16]})
    out = tmp_path / "sweep"
    # Trial 000 was interrupted after 2 of its 4 steps: the sweep must resume it, not restart it.
    interrupted = out / "trials" / "000-batch_size=16-z_dim=8"
    config_file = tmp_path / "trial0.yaml"
    config_file.write_text(dump_yaml(trial_config(load_spec(spec), expand(load_spec(spec))[0].overrides)))
    assert train_tiny(interrupted, "--config", str(config_file), "--batch-size", "16",
                      "--max-steps", "2") == 0

    # Trial 001 was killed before its first checkpoint: its leftovers go, it starts afresh.
    leftover = out / "trials" / "001-batch_size=16-z_dim=16" / "samples" / "partial.png"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")

    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "2", *RUN_FLAGS]) == 0
    folders = sorted(path.name for path in (out / "trials").iterdir())
    assert len(folders) == 4 and not leftover.exists()
    with (out / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 4 and all(row["status"] == "done" and float(row["fid"]) > 0 for row in rows)
    lines = (out / "results.md").read_text().splitlines()
    assert lines[0] == "Budget: each trial's own epochs."
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 4
    header = [cell.strip() for cell in table[0].split("|")]
    assert header[1:5] == ["trial", "train.batch_size", "model.z_dim", "fid"]
    fids = [float(line.split("|")[header.index("fid")]) for line in table[2:]]
    assert fids == sorted(fids)
    assert (out / "grids.png").is_file() and (out / "report.html").is_file()
    resumed_log = (out / "logs" / f"{interrupted.name}.log").read_text()
    assert "resuming" in resumed_log and "at step 2" in resumed_log

    checkpoint_times = {path: path.stat().st_mtime for path in out.glob("trials/*/checkpoints/last.pt")}
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), *RUN_FLAGS]) == 0
    assert {path: path.stat().st_mtime for path in checkpoint_times} == checkpoint_times


@pytest.mark.slow  # (trains trials in child processes)
def test_an_optuna_study_in_sqlite(tmp_path):
    pytest.importorskip("optuna", reason="needs optuna (extra [sweep])")
    spec = write_spec(tmp_path, base="mnist-dcgan", eval_samples=200,
                      overrides={**TINY_TRIAL, "train.epochs": 2},
                      search={"train.lr_g": {"low": 1.0e-4, "high": 1.0e-3, "log": True},
                              "model.z_dim": [8, 16]})
    out = tmp_path / "search"
    assert main(["sweep", str(spec), "--out", str(out), "--search", "optuna", "--trials", "2",
                 *RUN_FLAGS]) == 0
    with sqlite3.connect(out / "study.db") as database:
        states = [state for (state,) in database.execute("SELECT state FROM trials")]
    assert len(states) == 2 and set(states) <= {"COMPLETE", "PRUNED"}
    with (out / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["trial"] for row in rows) == ["trial-0000", "trial-0001"]
    assert all(8 <= int(row["model.z_dim"]) <= 16 for row in rows)


@pytest.mark.slow  # (trains runs in child processes)
def test_a_seeded_sweep_at_an_image_budget_trained_together(tmp_path, capsys):
    tiny = {**{key: value for key, value in TINY_TRIAL.items() if key != "train.epochs"},
            "train.eval_every": 0}
    spec = write_spec(tmp_path, base="mnist-dcgan", overrides=tiny, eval_samples=200, seeds=2,
                      budget={"images": 96}, trials=[{"train.batch_size": 16}, {"train.batch_size": 32}])
    out = tmp_path / "sweep"
    # One run was stopped after 2 of its 6 steps: resumed there, it no longer stacks with its
    # other seed (they are at different steps), so those two take turns.
    stopped = out / "trials" / "000-batch_size=16-seed0"
    config_file = tmp_path / "stopped.yaml"
    config_file.write_text(dump_yaml(trial_config(load_spec(spec), {"train.batch_size": 16}, seed=0)))
    assert main(["train", "--config", str(config_file), "--out", str(stopped), "--max-steps", "2",
                 *RUN_FLAGS]) == 0
    assert main(["sweep", str(spec), "--out", str(out), "--together", "stack", *RUN_FLAGS]) == 0
    assert "4 runs together on cpu: a stack of 2, 2 in turns" in (out / "logs/together.log").read_text()
    assert [record["step"] for record in RunDir(stopped).epochs()] == [2, 4, 6]
    # Every run stops at the budget whatever its batch size: 6 steps of 16, 3 of 32.
    for folder in sorted((out / "trials").iterdir()):
        last = RunDir(folder).epochs()[-1]
        assert last["step"] * (16 if "batch_size=16" in folder.name else 32) == 96, folder.name
    with (out / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert sorted((row["trial"], row["seed"]) for row in rows) == \
        [("000-batch_size=16", "0"), ("000-batch_size=16", "1"),
         ("001-batch_size=32", "0"), ("001-batch_size=32", "1")]
    results = (out / "results.md").read_text()
    assert results.startswith("Budget: 96 training images per run (train.max_images).")
    assert "| setting | seeds | fid |" in results and " ± " in results and "Welch" in results
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("setting") and "Every run:" in table
    assert "Settings over seeds" in (out / "report.html").read_text()

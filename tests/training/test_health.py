"""The training-health monitor: each detector fires on a scenario built to have its failure, stays
silent on a healthy run, warns once per episode, and names remedies that are real config keys."""

from __future__ import annotations

import json
import re

import pytest
import torch

from ganforge.config import parse_override, resolve
from ganforge.metrics import evaluate, real_images
from ganforge.models import build_generator
from ganforge.sampling import generate
from ganforge.training.health import DETECTORS, REARM, HealthMonitor
from helpers import MNIST_DIR, train_tiny

# Interval records every 2 steps and a 16-step window, so tiny runs can show sustained failures.
WATCH = ["--set", "train.log_every=2", "--set", "train.health_window=16"]


def events(run, kind: str) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [record for record in records if record["event"] == kind]


def detectors_fired(run) -> list[str]:
    return [record["detector"] for record in events(run, "health")]


def interval(step: int, **values: float) -> dict:
    healthy = {"loss_d": 1.1, "loss_g": 1.0, "d_real": 0.6, "d_fake": 0.4, "acc_real": 0.8,
               "acc_fake": 0.8, "grad_norm_d": 1.0, "grad_norm_g": 1.0}
    return {"event": "interval", "step": step, **healthy, **values}


def test_every_remedy_is_an_override_that_validates():
    config = resolve("mnist-course", overrides=[parse_override("train.lr_d=1e-3"),
                                                    parse_override("train.betas_d=[0.9,0.999]")])
    for name in DETECTORS.names():
        remedies = DETECTORS.get(name).remedies(config)
        overrides = [parse_override(text) for remedy in remedies
                     for text in re.findall(r"--set (\S+)", remedy)]
        assert overrides, name
        resolve("mnist-course", overrides=overrides)  # raises ConfigError on a bad key or value


def test_d_overpowering_fires_on_a_d_far_ahead_of_a_frozen_g(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_tiny(run, "--epochs", "5", "--set", "train.lr_g=1e-9", "--set", "train.lr_d=2e-3",
                      "--set", "model.d_batch_norm=false", *WATCH) == 0
    assert detectors_fired(run) == ["d-overpowering"]
    warning = events(run, "health")[0]
    assert "train.lr_d=0.0005" in " ".join(warning["remedies"])
    assert "D is overpowering G" in capsys.readouterr().out


def test_d_not_learning_fires_when_d_is_frozen(tmp_path):
    run = tmp_path / "run"
    assert train_tiny(run, "--epochs", "3", "--set", "train.lr_d=1e-9", *WATCH) == 0
    assert detectors_fired(run) == ["d-not-learning"]


def test_a_d_matched_by_g_after_it_learned_is_not_d_not_learning():
    """A good conditional run's spectral-norm D sits at 0.5 once G matches the data: not stuck."""
    undecided = [interval(step, d_real=0.503, d_fake=0.498) for step in range(300, 601, 50)]
    matched = HealthMonitor(resolve("mnist-cgan"))
    for record in [interval(50, d_real=0.6, d_fake=0.45), *undecided]:
        assert matched.observe(record) == []
    stuck = HealthMonitor(resolve("mnist-cgan"))
    warnings = [warning for record in [interval(50, d_real=0.52, d_fake=0.49), *undecided]
                for warning in stuck.observe(record)]
    assert [warning.detector for warning in warnings] == ["d-not-learning"]


def test_divergence_warns_before_the_loss_becomes_nan(tmp_path):
    # d_image_batch_norm=true: the course D's parameter layout, hence the initial weights (and
    # the pace of divergence) this test was written for; every BatchNorm is off all the same.
    run = tmp_path / "run"
    code = train_tiny(run, "--epochs", "3", "--set", "train.lr_g=0.1", "--set", "train.lr_d=0.1",
                      "--set", "train.optimizer_d=sgd", "--set", "train.optimizer_g=sgd",
                      "--set", "train.sgd_momentum=0.9", "--set", "loss.name=lsgan",
                      "--set", "model.d_batch_norm=false", "--set", "model.d_image_batch_norm=true",
                      *WATCH)
    assert code == 3
    (warning,) = [record for record in events(run, "health") if record["detector"] == "divergence"]
    (diverged,) = events(run, "diverged")
    assert warning["step"] < diverged["step"]


def test_a_generator_that_ignores_z_is_reported_as_mode_collapse():
    torch.manual_seed(0)
    generator = build_generator("dcgan28", z_dim=16, channels=1, image_size=28).eval()
    images = generate(generator, 500, z=torch.zeros(500, 16))  # what a G that ignores z makes
    collapsed = evaluate(images, "mnist", ("classes", "spread"), data_dir=str(MNIST_DIR))
    real = evaluate(real_images("mnist", "train", 500, str(MNIST_DIR)), "mnist", ("classes", "spread"),
                    data_dir=str(MNIST_DIR))
    assert collapsed["feature_spread"] < 0.1 and 0.9 < real["feature_spread"] < 1.1

    # Spread is low early in every run (an untrained G makes blobs); collapse is spread falling.
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    assert monitor.observe({"event": "eval", "step": 100, "fid": 1.0, **real}) == []
    (warning,) = monitor.observe({"event": "eval", "step": 200, "fid": 90.0, **collapsed})
    assert warning.detector == "mode-collapse" and "spread only" in warning.message
    assert HealthMonitor(resolve("mnist-dcgan")).observe(
        {"event": "eval", "step": 100, "fid": 90.0, **collapsed}) == []
    # Blobs wandering from 0.10 to 0.06 (a run's first epochs) never spread, so never collapsed.
    early = HealthMonitor(resolve("mnist-dcgan"))
    assert [early.observe({"event": "eval", "step": step, "fid": 200.0, "feature_spread": spread})
            for step, spread in ((1, 0.10), (2, 0.06))] == [[], []]


def test_classes_covered_dropping_is_mode_collapse():
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    assert monitor.observe({"event": "eval", "step": 1, "fid": 5.0, "classes_covered": 10}) == []
    assert monitor.observe({"event": "eval", "step": 2, "fid": 5.0, "classes_covered": 9}) == []
    (warning,) = monitor.observe({"event": "eval", "step": 3, "fid": 5.0, "classes_covered": 7})
    assert "7 classes, down from 10" in warning.message


def test_realistic_samples_without_recall_are_mode_collapse():
    """The failure of the conditional preset before its fix: every class, each drawn one way."""
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    record = {"event": "eval", "fid": 5.3, "classes_covered": 10, "feature_spread": 0.98}
    assert monitor.observe({**record, "step": 1, "precision": 0.66, "recall": 0.4}) == []
    (warning,) = monitor.observe({**record, "step": 2, "precision": 0.66, "recall": 0.0})
    assert "recall 0.00" in warning.message


def test_a_conditional_g_drawing_some_classes_one_way_is_named():
    """Per-class spread, once the labels are obeyed; a G still drawing blobs is not warned."""
    monitor = HealthMonitor(resolve("mnist-cgan", overrides=[("model.d_minibatch_std", 0)]))
    record = {"event": "eval", "fid": 5.3, "classes_covered": 10, "feature_spread": 0.98,
              "precision": 0.66, "recall": 0.4}
    spreads = [0.9, 0.95, 0.2, 0.9, 0.9, 0.9, 0.9, 0.31, 0.9, 0.9]
    assert monitor.observe({**record, "step": 1, "label_accuracy": 0.3, "class_spread": spreads}) == []
    (warning,) = monitor.observe({**record, "step": 2, "label_accuracy": 0.99, "class_spread": spreads})
    assert "class 2 (0.20x), 7 (0.31x)" in warning.message
    assert any("model.d_minibatch_std=4" in remedy for remedy in warning.remedies)


@pytest.mark.parametrize(("fids", "fires"), [([10, 12, 11, 13], True), ([10, 9, 8, 7], False)])
def test_oscillation_needs_flat_fid_and_swinging_losses(fids, fires):
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    warnings = []
    for index, fid in enumerate(fids):
        for step in range(index * 100 + 10, index * 100 + 101, 10):
            warnings += monitor.observe(interval(step, loss_g=0.5 if step % 20 else 2.5))
        warnings += monitor.observe({"event": "eval", "step": index * 100 + 100, "fid": fid})
    assert [warning.detector for warning in warnings] == (["oscillation"] if fires else [])


def test_a_detector_warns_once_per_episode():
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    collapsed = {"event": "eval", "fid": 90.0, "feature_spread": 0.1}
    healthy = {"event": "eval", "fid": 90.0, "feature_spread": 1.0}
    monitor.observe({**healthy, "step": -1})
    fired = [len(monitor.observe({**collapsed, "step": step})) for step in range(5)]
    assert fired == [1, 0, 0, 0, 0]
    for step in range(5, 5 + REARM):
        monitor.observe({**healthy, "step": step})
    assert len(monitor.observe({**collapsed, "step": 99})) == 1


@pytest.mark.slow
def test_a_healthy_run_stays_silent_and_logs_intervals(tmp_path):
    """Longer than the default 250-step window, with evaluations: no warning."""
    run = tmp_path / "run"
    assert train_tiny(run, "--epochs", "5", "--batch-size", "16", "--set", "data.limit=1024",
                      "--set", "train.log_every=10", "--set", "train.eval_every=1",
                      "--set", "train.eval_samples=300") == 0
    assert detectors_fired(run) == []
    intervals = events(run, "interval")
    assert [record["step"] for record in intervals] == list(range(10, 321, 10))
    assert all(record["grad_norm_d"] > 0 and record["grad_norm_g"] > 0
               and record["lr_d"] == resolve().train.lr_d
               for record in intervals)
    assert len(events(run, "eval")) == 5


def test_a_loss_that_only_climbs_is_no_oscillation():
    """G's loss rising step after step (D overpowering it) with a flat FID is not oscillation."""
    monitor = HealthMonitor(resolve("mnist-dcgan"))
    warnings = []
    for index, fid in enumerate([10, 12, 11, 13]):
        for step in range(index * 100 + 10, index * 100 + 101, 10):
            warnings += monitor.observe(interval(step, loss_g=0.5 + step / 50))
        warnings += monitor.observe({"event": "eval", "step": index * 100 + 100, "fid": fid})
    assert warnings == []

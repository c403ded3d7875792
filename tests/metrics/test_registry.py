"""A metric is registered once, with its keys, and every consumer reads the registration."""

from __future__ import annotations

import json

import pytest

import ganforge
from ganforge.metrics import (
    METRICS,
    defaults,
    evaluate,
    real_images,
    result_keys,
    table_metrics,
    training_metrics,
)
from ganforge.report import metrics_table
from ganforge.runs import RunDir
from ganforge.runs.records import eval_record, scalars, table_summary
from helpers import MNIST_DIR


@pytest.fixture
def pixel_gap(monkeypatch):
    """A toy metric from a user's script: the gap between the mean pixels of generated and real
    images (in the features here, standing in for the images), removed after the test."""
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))

    @ganforge.register_metric("pixel_gap", keys=[("pixel_gap", "pixel gap", "lower")],
                              default="any", training=True, tables=True)
    def gap(inputs):
        generated, real = inputs.generated.features, inputs.reference.features
        return {"pixel_gap": float((generated.mean() - real.mean()).abs())}

    return gap


def test_the_defaults_follow_the_registrations():
    assert defaults("digits") == ("fid", "kid", "pr", "dc", "cs", "classes", "modes", "spread")
    assert defaults("random") == ("fid", "kid", "pr", "dc", "spread", "memorization")
    assert training_metrics("digits") == ("fid", "pr", "classes", "modes", "spread")
    assert table_metrics("random") == ("fid", "kid", "pr")
    assert [key.name for key in result_keys(tables_only=True)] == \
        ["fid", "kid", "precision", "recall", "classes_covered", "modes", "modes_kl"]
    # every key a metric declares is named by no other metric
    names = [key.name for key in result_keys()]
    assert len(names) == len(set(names))


def test_a_registered_metric_reaches_every_consumer(pixel_gap, tmp_path):
    assert "pixel_gap" in defaults("digits") and "pixel_gap" in training_metrics("random")
    images = real_images("mnist", "test", 1000, str(MNIST_DIR))
    results = evaluate(images, "mnist", ref_count=1000, data_dir=str(MNIST_DIR))
    assert results["pixel_gap"] >= 0 and "fid" in results
    record = eval_record(epoch=1, step=8, results=results, features="digits", best=True, seconds=1.0)
    assert scalars(record)["pixel_gap"] == results["pixel_gap"]
    assert table_summary(results)["pixel_gap"] == results["pixel_gap"]
    run = RunDir(tmp_path / "run")
    run.metrics_path.parent.mkdir(parents=True)
    run.evaluation_path.write_text(json.dumps({"event": "evaluate", **results}))
    assert run.summary()["pixel_gap"] == results["pixel_gap"]
    assert "pixel gap ↓" in metrics_table([record], ["epoch"])


def test_a_metric_registered_twice_or_with_a_bad_direction_is_refused(pixel_gap):
    with pytest.raises(ValueError, match="registered twice"):
        ganforge.register_metric("pixel_gap", keys=[("pixel_gap", "gap", "lower")])(pixel_gap)
    with pytest.raises(ValueError, match="better must be"):
        ganforge.register_metric("other", keys=[("other", "other", "smaller")])(pixel_gap)

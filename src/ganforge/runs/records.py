"""The records of a run's metrics.jsonl, one JSON object a line, told apart by "event":

    interval   every train.log_every steps: the step statistics averaged, learning rates
    epoch      every epoch end or stop: the same over the epoch, img/s, seconds, complete
    eval       training's periodic evaluation: the training metrics' results, best, seconds
    evaluate   `ganforge evaluate`: every metric asked for, the reference split (eval.json too)
    rollback / diverged / health   what happened to the run, at a step

The metrics' result keys come from their registration (ganforge.metrics), so a new metric's
numbers reach these records, the report and the tables without a list to extend here.
"""

from __future__ import annotations

from typing import Any, TypedDict

from ganforge.metrics import headline, result_keys


class EvalRecord(TypedDict, total=False):
    event: str  # "eval"
    epoch: int
    step: int
    samples: int
    features: str  # "digits", "random" or "inception"
    best: bool  # the best FID so far: checkpoints/best.pt holds this generator
    seconds: float
    # ... and every result of the training metrics: fid, precision, recall, classes_covered ...


def eval_record(*, epoch: int, step: int, results: dict[str, Any], features: str, best: bool,
                seconds: float) -> EvalRecord:
    """A periodic evaluation's record: where it happened, then every result the metrics gave."""
    return {"event": "eval", "epoch": epoch, "step": step, **results, "features": features,
            "best": best, "seconds": seconds}


def table_summary(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The table metrics' headline numbers of an evaluation (None where it lacks one)."""
    return {key.name: evaluation.get(key.name) for key in result_keys(tables_only=True)}


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A record's headline numbers, for TensorBoard and plots."""
    return {name: float(value) for name, value in headline(record).items()}

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


def interval_line(record: dict[str, Any]) -> str:
    """An interval record as the console shows it (train.log_lines)."""
    return (f"step {record['step']}  loss D {record['loss_d']:.4f}  loss G {record['loss_g']:.4f}  "
            f"D(x) {record['d_real']:.3f}  D(G(z)) {record['d_fake']:.3f} before D's update, "
            f"{record['d_fake_after']:.3f} after")


def epoch_line(record: dict[str, Any], epochs: int, evaluation: dict[str, Any] | None) -> str:
    """An epoch record (and its evaluation) as the console shows it."""
    marker = "" if record["complete"] else " (stopped mid-epoch)"
    quality = "" if evaluation is None else \
        f"  FID {evaluation['fid']:.2f}{' (best)' if evaluation['best'] else ''}"
    return (
        f"epoch {record['epoch']}/{epochs}  loss D {record['loss_d']:.3f}  "
        f"loss G {record['loss_g']:.3f}  D(x) {record['d_real']:.3f}  "
        f"D(G(z)) {record['d_fake']:.3f}  acc real {record['acc_real']:.0%} "
        f"fake {record['acc_fake']:.0%}  lr G {record['lr_g']:.2g} D {record['lr_d']:.2g}  "
        f"{record['images_per_s']:.0f} img/s  "
        f"{record['seconds']:.1f} s{quality}{marker}"
    )

"""Training health: detectors that read the loop's records and say, in plain words, what is
going wrong, why it probably is, and which flags to try.

Each detector is a function of the history so far (interval records: averages over
`train.log_every` steps; eval records: the periodic evaluation) returning a message when its
failure is present, or None. It costs nothing on the device: it reads numbers the step computes
anyway. A sustained condition must hold over the last `train.health_window` steps (and at
least MIN_INTERVALS records). A detector warns once per episode: it re-arms after its
condition has been absent for REARM observations in a row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ganforge.config import Config
from ganforge.registry import Registry

MIN_INTERVALS = 3
REARM = 3
DIVERGENCE_FACTOR = 100.0  # "orders of magnitude": two of them above the early level
D_SEPARATED = 0.05  # D(x) - D(G(z)) over an interval from which D has learned to tell them apart
# An untrained G's blobs spread about 0.1x as widely as real images and wander between 0.06 and
# 0.1 before G draws anything, so only a fall from a spread G has reached counts as collapse.
SPREAD_REACHED = 0.25


@dataclass
class History:
    window_steps: int
    intervals: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)

    def recent(self) -> list[dict[str, Any]] | None:
        """The interval records of the last `window_steps` steps; None until training has run
        that long or while they are fewer than MIN_INTERVALS."""
        if not self.intervals or self.intervals[-1]["step"] < self.window_steps:
            return None
        since = self.intervals[-1]["step"] - self.window_steps
        recent = [record for record in self.intervals if record["step"] > since]
        return recent if len(recent) >= MIN_INTERVALS else None


@dataclass(frozen=True)
class Detector:
    check: Callable[[History], str | None]
    remedies: Callable[[Config], list[str]]
    reads: str  # "interval" or "eval": the records that can change its answer


DETECTORS: Registry[Detector] = Registry("health detector")


def _lr(value: float) -> str:
    return f"{value:.2g}"


def d_overpowering(history: History) -> str | None:
    """D rejects (nearly) every fake for the whole window and G's signal has collapsed: either its
    gradient (saturating losses) or D's verdict on the fakes (non-saturating losses keep G's
    gradient large, but it only chases D's boundary)."""
    recent = history.recent()
    if recent is None or not all(record["acc_fake"] >= 0.99 for record in recent):
        return None
    latest = recent[-1]
    peak_g = max(record["grad_norm_g"] for record in history.intervals)
    if latest["grad_norm_g"] < 0.1 * peak_g:
        signal = f"G's gradient norm fell to {latest['grad_norm_g']:.3g} from a peak of {peak_g:.3g}"
    elif latest["d_fake"] < 0.02:
        signal = f"D(G(z)) is {latest['d_fake']:.4f}"
    else:
        return None
    steps = latest["step"] - recent[0]["step"]
    return (f"D is overpowering G: it has rejected {latest['acc_fake']:.1%} of the fakes for {steps} "
            f"steps and {signal}, so G is barely learning")


def d_not_learning(history: History) -> str | None:
    """D(x) ≈ D(G(z)) ≈ 0.5 for the whole window and D has never told real from fake.

    Healthy runs can start slowly too, but their D(x) - D(G(z)) grows steadily past 0.01 within
    a few hundred steps. A D that did separate them and is back near 0.5 is being matched by G:
    the equilibrium of a good run (a spectral-norm D's outputs stay close to 0.5)."""
    recent = history.recent()
    if recent is None or any(record["d_real"] - record["d_fake"] >= D_SEPARATED
                             for record in history.intervals):
        return None
    undecided = all(abs(record["d_real"] - 0.5) < 0.05 and abs(record["d_fake"] - 0.5) < 0.05
                    for record in recent)
    separation = statistics.mean(record["d_real"] - record["d_fake"] for record in recent)
    if undecided and separation < 0.01:
        return (f"D is not learning: D(x) {recent[-1]['d_real']:.3f} and D(G(z)) "
                f"{recent[-1]['d_fake']:.3f} have stayed near 0.5 for {history.window_steps} steps "
                f"(mean gap {separation:.4f}), so G gets no useful signal")
    return None


def divergence(history: History) -> str | None:
    """Loss or gradient norms two orders of magnitude above their early level, still finite."""
    if len(history.intervals) <= 3:
        return None
    early, latest = history.intervals[:3], history.intervals[-1]
    for key in ("grad_norm_d", "grad_norm_g", "loss_d", "loss_g"):
        baseline = statistics.median(abs(record[key]) for record in early)
        if baseline > 0 and abs(latest[key]) >= DIVERGENCE_FACTOR * baseline:
            return (f"training is diverging: {key} is {abs(latest[key]):.3g}, "
                    f"{abs(latest[key]) / baseline:.0f}x its early level {baseline:.3g}; NaN usually "
                    "follows")
    return None


LABELS_OBEYED = 0.8  # label accuracy from which a conditional G is past its blobs
CLASS_SPREAD_COLLAPSED = 0.5  # a class whose samples spread less than this share of its reals


# Of many modes (Stacked MNIST's 1,000), a drop below this share of the most covered so far.
MODES_KEPT = 0.8


def mode_collapse(history: History) -> str | None:
    """From the evaluations: classes covered dropping, the spread of generated features falling
    well below the real spread from a spread G had reached (an untrained G's is low too), a
    conditional G's classes each drawn one way, or realistic samples with almost no recall."""
    spreads = [record["feature_spread"] for record in history.evals if "feature_spread" in record]
    if (len(spreads) >= 2 and max(spreads[:-1]) >= SPREAD_REACHED and spreads[-1] < 0.5
            and spreads[-1] < 0.7 * max(spreads[:-1])):
        return (f"mode collapse: generated samples spread only {spreads[-1]:.2f}x as widely as real "
                f"ones in feature space, down from {max(spreads[:-1]):.2f}x, so G makes few distinct "
                "images")
    covered = [record["classes_covered"] for record in history.evals if "classes_covered" in record]
    if covered and covered[-1] <= max(covered) - 2 and max(covered) <= 100:
        return (f"mode collapse: the samples now cover {covered[-1]} classes, down from "
                f"{max(covered)}")
    modes = [record["modes"] for record in history.evals if "modes" in record]
    if len(modes) >= 2 and max(modes) > 100 and modes[-1] < MODES_KEPT * max(modes):
        # (Stacked MNIST: of 1,000 modes, counted on the same number of samples each time)
        return f"mode collapse: the samples now cover {modes[-1]} modes, down from {max(modes)}"
    latest = history.evals[-1] if history.evals else {}
    # A conditional G can draw every class right and each the same way whatever z is: per-class
    # spread, once the labels are obeyed (an untrained G's spread is low too).
    if latest.get("class_spread") and latest.get("label_accuracy", 0) >= LABELS_OBEYED:
        collapsed = [(label, spread) for label, spread in enumerate(latest["class_spread"])
                     if spread < CLASS_SPREAD_COLLAPSED]
        if collapsed:
            listed = ", ".join(f"{label} ({spread:.2f}x)" for label, spread in collapsed)
            return (f"mode collapse within classes: class {listed} of the real spread; G draws "
                    "those labels nearly the same way whatever z is")
    if latest.get("recall") is not None and latest["recall"] < 0.05 and latest["precision"] >= 0.5:
        # Every class can be present and yet each drawn the same way (within-class collapse).
        return (f"mode collapse: samples look real (precision {latest['precision']:.2f}) but cover "
                f"little of the real variety (recall {latest['recall']:.2f})")
    return None


def oscillation(history: History) -> str | None:
    """FID no better across the last three evaluations while G's loss swings: over those
    intervals it both rises and falls by more than 15 % of its mean (a loss that only climbs,
    as G's does while D overpowers it, is another failure)."""
    fids = [record["fid"] for record in history.evals]
    if len(fids) < 4:
        return None
    best_before, recent = min(fids[:-3]), fids[-3:]
    since = history.evals[-4]["step"]
    losses = [record["loss_g"] for record in history.intervals if record["step"] > since]
    if min(recent) < 0.95 * best_before or len(losses) < 3:
        return None
    scale = max(abs(statistics.mean(losses)), 1e-8)
    rise = max(later - min(losses[:index]) for index, later in enumerate(losses) if index)
    fall = max(max(losses[:index]) - later for index, later in enumerate(losses) if index)
    if min(rise, fall) > 0.15 * scale:
        swing = (max(losses) - min(losses)) / scale
        return (f"oscillation without progress: FID {', '.join(f'{fid:.2f}' for fid in recent)} in "
                f"the last three evaluations, no better than {best_before:.2f} before, while G's "
                f"loss swings up and down over {swing:.0%} of its mean")
    return None


def _calmer(config: Config) -> list[str]:
    """Lower learning rates, and DCGAN's Adam beta1 of 0.5 where Adam runs with another."""
    train = config.train
    remedies = [f"lower both learning rates: --set train.lr_g={_lr(train.lr_g / 4)} "
                f"--set train.lr_d={_lr(train.lr_d / 4)}"]
    if "adam" in (train.optimizer_g, train.optimizer_d) and 0.5 not in (train.betas_g[0],
                                                                        train.betas_d[0]):
        remedies.append("Adam beta1 0.5, the DCGAN setting: --set train.betas_g=[0.5,0.999] "
                        "--set train.betas_d=[0.5,0.999]")
    return remedies


DETECTORS.register("d-overpowering", Detector(d_overpowering, lambda config: [
    f"slow D down: --set train.lr_d={_lr(config.train.lr_d / 4)}",
    "one-sided label smoothing: --set loss.real_label=0.9",
    "augment what D sees, real and fake alike: --set train.diffaugment=translation,cutout",
], "interval"))
DETECTORS.register("d-not-learning", Detector(d_not_learning, lambda config: [
    f"raise D's learning rate: --set train.lr_d={_lr(config.train.lr_d * 4)}",
    "check what D is shown: ganforge show-data --preset ... --out real.png",
    "less regularised D: --set model.d_dropout=0 --set loss.instance_noise=0",
], "interval"))
DETECTORS.register("divergence", Detector(divergence, lambda config: [
    *_calmer(config), "keep going safely: --set train.on_nan=rollback"], "interval"))
def _collapse_remedies(config) -> list[str]:
    model = config.model
    if not model.conditional:
        return ["a steadier loss and D: --set loss.name=hinge --set model.d_spectral_norm=true",
                "average G's weights: --set train.ema_half_life=10000",
                "condition on labels: --set model.conditional=true"]
    remedies = [
        (model.conditioning != "cbn", "z and the label in every G block: --set model.conditioning=cbn"),
        (not model.d_minibatch_std, "let D see a batch of look-alikes: --set model.d_minibatch_std=4"),
        (not config.loss.mode_seeking, "reward different images for different z: "
                                       "--set loss.mode_seeking=1"),
        (not model.d_spectral_norm or model.d_batch_norm,
         "a projection D with spectral norm and no BatchNorm: --set model.d_spectral_norm=true "
         "--set model.d_batch_norm=false"),
    ]
    return [text for applies, text in remedies if applies] or \
        ["average G's weights: --set train.ema_half_life=10000"]


DETECTORS.register("mode-collapse", Detector(mode_collapse, _collapse_remedies, "eval"))
DETECTORS.register("oscillation", Detector(oscillation, lambda config: [
    *_calmer(config), "anneal: --set train.lr_schedule=linear",
    "average G's weights: --set train.ema_half_life=10000"], "eval"))


@dataclass(frozen=True)
class HealthWarning:
    detector: str
    step: int
    message: str
    remedies: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        return {"event": "health", "detector": self.detector, "step": self.step,
                "message": self.message, "remedies": list(self.remedies)}

    def text(self) -> str:
        return (f"ganforge health (step {self.step}): {self.message}.\n  try: "
                + "\n  or:  ".join(self.remedies))


class HealthMonitor:
    def __init__(self, config: Config):
        self.config = config
        self.history = History(config.train.health_window)
        self._active: dict[str, bool] = {}
        self._quiet: dict[str, int] = {}  # observations in a row without the condition

    def observe(self, record: dict[str, Any]) -> list[HealthWarning]:
        """Feed an interval or eval record; returns the warnings that start an episode now."""
        kind = record["event"]
        (self.history.intervals if kind == "interval" else self.history.evals).append(record)
        warnings = []
        for name in DETECTORS.names():
            detector = DETECTORS.get(name)
            if detector.reads != kind:
                continue
            message = detector.check(self.history)
            if message is None:
                self._quiet[name] = self._quiet.get(name, 0) + 1
                if self._quiet[name] >= REARM:
                    self._active[name] = False
                continue
            self._quiet[name] = 0
            if not self._active.get(name):
                self._active[name] = True
                warnings.append(HealthWarning(name, record["step"], message,
                                              tuple(detector.remedies(self.config))))
        return warnings

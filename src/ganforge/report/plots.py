"""Training curves as PNG files, drawn with matplotlib (Agg) from metrics.jsonl records only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

from ganforge.runs import RunDir

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

Series = dict[str, tuple[list[float], list[float]]]
Bands = dict[str, tuple[list[float], list[float], list[float]]]  # label: (x, lowest, highest)


def line_plot(series: Series, title: str, xlabel: str, ylabel: str, out: Path,
              log_y: bool = False, bands: Bands | None = None) -> Path | None:
    """One chart of labelled lines, each over its shaded band where `bands` has one (the spread
    of a setting's seeds); None (nothing written) when there is nothing to draw."""
    series = {label: points for label, points in series.items() if points[0]}
    if not series:
        return None
    figure, axes = plt.subplots(figsize=(6.4, 3.4), dpi=100)
    for label, (xs, ys) in series.items():
        line, = axes.plot(xs, ys, label=label, linewidth=1.4, marker="o" if len(xs) < 30 else None,
                          markersize=3)
        if bands and label in bands:
            band_xs, low, high = bands[label]
            axes.fill_between(band_xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if log_y:
        axes.set_yscale("log")
    if all(float(x).is_integer() for xs, _ in series.values() for x in xs):  # (epochs, steps)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    if len(series) > 1:
        axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def curve(records: list[dict[str, Any]], key: str, x: str = "step") -> tuple[list[float], list[float]]:
    points = [(record[x], record[key]) for record in records if record.get(key) is not None]
    return [point[0] for point in points], [point[1] for point in points]


def training_plots(run_dir: RunDir, plots: Path) -> dict[str, Path]:
    """losses, D's scores, D's accuracy, gradient norms and FID of one run, as PNGs in `plots`."""
    # Interval records are finer; runs from before they existed have only epoch records.
    steps = run_dir.intervals() or run_dir.epochs()
    evals = run_dir.evaluations()
    charts = {
        "losses": line_plot({"loss D": curve(steps, "loss_d"), "loss G": curve(steps, "loss_g")},
                            "Losses", "step", "loss", plots / "losses.png"),
        "scores": line_plot({"D(x)": curve(steps, "d_real"), "D(G(z))": curve(steps, "d_fake"),
                             "D(G(z)) after D's update": curve(steps, "d_fake_after")},
                            "D's scores on real and generated images", "step", "mean score",
                            plots / "scores.png"),
        "accuracy": line_plot({"on real": curve(steps, "acc_real"), "on fake": curve(steps, "acc_fake")},
                              "D's accuracy", "step", "accuracy", plots / "accuracy.png"),
        "gradients": line_plot({"D": curve(steps, "grad_norm_d"), "G": curve(steps, "grad_norm_g")},
                               "Gradient norms", "step", "L2 norm", plots / "gradients.png", log_y=True),
        "fid": line_plot({"FID": curve(evals, "fid", "epoch")}, "FID during training", "epoch", "FID",
                         plots / "fid.png", log_y=True),
    }
    return {name: path for name, path in charts.items() if path is not None}


def class_histogram(generated: list[float], real: list[float] | None, out: Path) -> Path:
    figure, axes = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    classes = list(range(len(generated)))
    width = 0.4 if real else 0.8
    axes.bar([k - (width / 2 if real else 0) for k in classes], generated, width, label="generated")
    if real:
        axes.bar([k + width / 2 for k in classes], real, width, label="real")
        axes.legend(fontsize=8)
    axes.set(title="Predicted class of generated images", xlabel="class", ylabel="share",
             xticks=classes)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out

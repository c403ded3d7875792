"""Reports built from run folders' files only (never live state), so they work for finished,
running and interrupted runs alike.

    run_report(RUN)            -> RUN/report.html (+ RUN/plots/*.png, RUN/plots/samples.gif)
    comparison_report(RUNS, out) -> one page comparing several runs (a sweep's trials)
    compare_table(RUNS)        -> the comparison table as text, for the terminal
    report_for(PATHS)          -> whichever of the two PATHS ask for
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

from ganforge.atomic import write_text_atomic
from ganforge.metrics import result_keys
from ganforge.report.images import animate, mode_map, side_by_side
from ganforge.report.plots import class_histogram, curve, line_plot, training_plots
from ganforge.runs import RunDir, by_fid
from ganforge.runs.images import save_grid_png
from ganforge.runs.seeds import Setting, band, seed_table, settings_in

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 24px 48px;
       color: #222; }
h1 { margin-top: 28px; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f3f4f6; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } img.pixel { image-rendering: pixelated; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .charts img { width: 520px; }
.strip { display: flex; flex-wrap: wrap; gap: 8px; } .strip figure { margin: 0; text-align: center;
  font-size: 12px; } .strip img { width: 120px; }
pre { background: #f6f8fa; padding: 12px; overflow: auto; font-size: 13px; }
.warning { background: #fff7ed; border-left: 4px solid #f97316; padding: 8px 12px; margin: 8px 0; }
.muted { color: #666; }
"""


def _data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".gif": "image/gif"}[path.suffix]
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _image(path: Path, alt: str, pixel: bool = False) -> str:
    return f'<img src="{_data_uri(path)}" alt="{html.escape(alt)}"{" class=pixel" if pixel else ""}>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(value)}</td>" for value in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, sections: list[str]) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<link rel=icon href='data:,'><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{''.join(sections)}"
            f"<p class=muted>written by ganforge report, {time.strftime('%Y-%m-%d %H:%M')}</p>"
            "</body></html>")


EPOCH_COLUMNS = [("epoch", "epoch"), ("loss D", "loss_d"), ("loss G", "loss_g"), ("D(x)", "d_real"),
                 ("D(G(z))", "d_fake"), ("acc real", "acc_real"), ("acc fake", "acc_fake"),
                 ("img/s", "images_per_s"), ("seconds", "seconds")]


def _real_grid(config: dict[str, Any], plots: Path) -> Path | str:
    """plots/real.png, a real test batch (the dataset files are read, never the run's live
    state); or, when the dataset is not on this machine, the note saying so."""
    from ganforge.errors import GanforgeError
    from ganforge.metrics import real_images

    try:
        real = real_images(config["data"]["name"], "test", 64, config["data"].get("path"))
    except GanforgeError as error:
        return f"<p class=muted>Real images unavailable here ({html.escape(str(error))}).</p>"
    save_grid_png(real, plots / "real.png")
    return plots / "real.png"


def _real_beside_generated(run_dir: RunDir, real_grid: Path | str, plots: Path) -> str:
    """A real test batch next to the last grid."""
    last = run_dir.last_grid()
    if last is None:
        return "<p class=muted>No sample grid yet.</p>"
    if isinstance(real_grid, str):
        return real_grid + _image(last, "generated", pixel=True)
    both = side_by_side([("real (test set)", real_grid), (f"generated ({last.stem})", last)],
                        plots / "real-vs-generated.png", columns=2, width=420)
    return _image(both, "real and generated side by side", pixel=True)


def metrics_table(records: list[dict[str, Any]], extra: list[str]) -> str:
    """The records' headline numbers (every registered metric's keys that they hold), titled
    by the metrics' registration, with `extra` plain columns first."""
    keys = [key for key in result_keys() if any(key.name in record for record in records)]
    header = [*extra, *(f"{key.label} {'↓' if key.better == 'lower' else '↑'}" for key in keys)]
    return _table(header, [[record.get(name) for name in extra] + [record.get(key.name) for key in keys]
                           for record in records])


def _class_section(evaluation: dict[str, Any], config: dict[str, Any], plots: Path) -> str:
    histogram = evaluation.get("class_histogram")
    if not histogram:
        return "<p class=muted>Run <code>ganforge evaluate</code> on this run for the class histogram.</p>"
    from ganforge.data.sources import load_split
    from ganforge.errors import GanforgeError

    try:
        _, labels = load_split(config["data"]["name"], config["data"].get("path"), "test")
        real = [float((labels == k).mean()) for k in range(len(histogram))]
    except GanforgeError:
        real = None
    chart = class_histogram(histogram, real, plots / "classes.png")
    return _image(chart, "class histogram") + \
        f"<p>{evaluation.get('classes_covered')} of {len(histogram)} classes covered.</p>"


def _modes_section(evaluation: dict[str, Any], plots: Path) -> str:
    """Stacked MNIST's 1,000 modes, covered or not (from `ganforge evaluate`)."""
    chart = mode_map(evaluation["mode_counts"], plots / "modes.png")
    return (f"<p>{evaluation['modes']} of 1,000 modes covered, KL to uniform "
            f"{evaluation['modes_kl']:.3f} on {evaluation.get('samples', 0):,d} samples (a panel per "
            "first digit, a row per second, a column per third; red: never drawn).</p>"
            + _image(chart, "the 1,000 modes", pixel=True))


def _per_class_section(evaluation: dict[str, Any], run_dir: RunDir) -> str:
    """A conditional run's per-class numbers (from `ganforge evaluate`) and its sheet by class."""
    rows = [[label, fid, recall, spread] for label, (fid, recall, spread) in enumerate(zip(
        evaluation["class_fid"], evaluation["class_recall"], evaluation["class_spread"]))]
    sheet = run_dir.samples / "by-class.png"
    return (f"<p>label accuracy {evaluation['label_accuracy']:.4f}, intra-class FID "
            f"{evaluation['intra_fid']:.4g}: each class against the real images of that class; "
            "a spread or recall near 0 is a class drawn the same way whatever z is.</p>"
            + _table(["class", "FID", "recall", "feature spread"], rows)
            + (_image(sheet, "ten samples of every class, one row each", pixel=True)
               if sheet.is_file() else ""))


def run_report(run: Path) -> Path:
    """RUN/report.html: one self-contained file with every image embedded."""
    run_dir = RunDir(run)
    if not run_dir.config_path.is_file():
        from ganforge.errors import GanforgeError

        raise GanforgeError(f"{run} is not a run folder (no config.yaml); give a folder made by "
                            "ganforge train")
    import yaml

    config_text = run_dir.config_path.read_text()
    config = yaml.safe_load(config_text)
    records = run_dir.read_metrics()
    plots = run_dir.root / "plots"
    epochs, evals = run_dir.epochs(), run_dir.evaluations()
    events = [record for record in records if record.get("event") in ("health", "rollback", "diverged")]
    evaluation = run_dir.evaluation()
    grids = run_dir.grids()

    sections = [f"<p>{html.escape(config.get('description', ''))}</p>"]
    state = "finished" if epochs and epochs[-1]["epoch"] >= config["train"]["epochs"] else \
        f"not finished: {epochs[-1]['epoch'] if epochs else 0} of {config['train']['epochs']} epochs so far"
    sections.append(f"<p><b>{html.escape(config['model']['name'])}</b> on "
                    f"<b>{html.escape(config['data']['name'])}</b>, {state}.</p>")
    if evaluation:
        sections.append("<h2>Quality</h2>" + metrics_table([evaluation], ["samples"]))
    sections.append("<h2>Curves</h2><div class=charts>" + "".join(
        _image(path, name) for name, path in training_plots(run_dir, plots).items()) + "</div>")
    if evals:
        sections.append(metrics_table(evals, ["epoch"]))
    sections.append("<h2>Health</h2>" + ("".join(
        f"<div class=warning><b>step {event['step']}: {html.escape(event['event'])}"
        f"{' ' + html.escape(event.get('detector', '')) if event.get('detector') else ''}</b> "
        f"{html.escape(event.get('message', ''))}"
        + ("<br>try: " + "; ".join(html.escape(remedy) for remedy in event.get("remedies", []))
           if event.get("remedies") else "") + "</div>" for event in events)
        or "<p>No warnings: no detector fired.</p>"))
    sections.append("<h2>Samples from the fixed noise</h2>")
    real_grid = _real_grid(config, plots)
    if grids:
        gif = animate(grids, plots / "samples.gif")
        # every epoch's grid beside a real batch, the first tile of the strip
        tiles = ([(real_grid, "real (test set)")] if isinstance(real_grid, Path) else []) + \
            [(path, path.stem) for path in grids]
        sections.append(_image(gif, "samples over training", pixel=True) + "<div class=strip>" + "".join(
            f"<figure>{_image(path, caption, pixel=True)}<figcaption>{caption}</figcaption></figure>"
            for path, caption in tiles) + "</div>")
    sections.append("<h2>Real beside generated</h2>" + _real_beside_generated(run_dir, real_grid, plots))
    if len(evaluation.get("mode_counts", ())) == 1000:  # Stacked MNIST
        sections.append("<h2>Modes</h2>" + _modes_section(evaluation, plots))
    else:
        sections.append("<h2>Classes</h2>" + _class_section(evaluation, config, plots))
    if "class_fid" in evaluation:
        sections.append("<h2>Per class</h2>" + _per_class_section(evaluation, run_dir))
    sections.append("<h2>Per epoch</h2>" + _table(
        [name for name, _ in EPOCH_COLUMNS],
        [[record.get(key) for _, key in EPOCH_COLUMNS] for record in epochs]))
    sections.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>")
    out = run_dir.root / "report.html"
    write_text_atomic(out, _page(f"ganforge run {run_dir.root.name}", sections))
    return out


def runs_in(paths: list[Path]) -> list[Path]:
    """Run folders among `paths`; a sweep folder stands for its trials."""
    runs: list[Path] = []
    for path in paths:
        trials = path / "trials"
        runs += sorted(child for child in trials.iterdir() if child.is_dir()) if trials.is_dir() else [path]
    return [run for run in runs if RunDir(run).config_path.is_file()]


def report_for(paths: list[Path], out: Path | None = None) -> Path:
    """One run's report (RUN/report.html), or a page comparing runs and sweeps (`out`, default
    SWEEP/report.html for one sweep folder, else comparison.html)."""
    if len(paths) == 1 and RunDir(paths[0]).config_path.is_file():
        return run_report(paths[0])
    for path in paths:
        if not path.is_dir():
            from ganforge.errors import ConfigError

            raise ConfigError(f"{path} is not a folder; give run or sweep folders")
    out = out or (paths[0] / "report.html" if len(paths) == 1 else Path("comparison.html"))
    return comparison_report(paths, out)


def _text_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    texts = [[("–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
              for value in row] for row in rows]
    widths = [max(len(column), *(len(text[index]) for text in texts)) for index, column in enumerate(columns)]
    return ["  ".join(text.ljust(width) for text, width in zip(row, widths)) for row in [columns, *texts]]


def compare_table(paths: list[Path]) -> str:
    """The runs ranked by FID; where runs share a setting on several seeds, first the settings'
    mean ± std and the best one's lead tested (`runs.seeds`)."""
    runs = runs_in(paths)
    if not runs:
        return "no run folders found"
    settings = settings_in(runs)
    rows = sorted((run for setting in settings for run in setting.runs), key=by_fid)
    lines = _text_table(list(rows[0]), [list(row.values()) for row in rows])
    if len(settings) < len(runs):
        lines = [*_text_table(*seed_table(settings)), "", "Every run:", *lines]
    return "\n".join(lines)


SEEDS_NOTE = ("Runs whose configs differ only in the seed are one setting: mean ± standard "
              "deviation over its seeds; the best setting's lead over each other is tested with "
              "Welch's t-test on FID (two-sided, 5 %).")


def _fid_chart(settings: list[Setting], run_dirs: dict[str, RunDir], plots: Path) -> Path | None:
    """FID during training, one line per setting: the mean over its seeds within the band of
    their lowest and highest."""
    means, bands = {}, {}
    for setting in settings:
        xs, mean, low, high = band([curve(run_dirs[run["run"]].evaluations(), "fid", "epoch")
                                    for run in setting.runs])
        means[setting.name], bands[setting.name] = (xs, mean), (xs, low, high)
    return line_plot(means, "FID during training (band: the seeds' range)", "epoch", "FID",
                     plots / "fid.png", log_y=True, bands=bands)


def comparison_report(paths: list[Path], out: Path) -> Path:
    """One page: the table sorted by FID, curves overlaid, the last grids side by side."""
    runs = runs_in(paths)
    if not runs:
        from ganforge.errors import GanforgeError

        raise GanforgeError("no run folders among " + ", ".join(map(str, paths)))
    settings = settings_in(runs)
    rows = sorted((run for setting in settings for run in setting.runs), key=by_fid)
    plots = out.parent / "plots"
    run_dirs = {run.name: RunDir(run) for run in runs}
    seeded = len(settings) < len(runs)

    def overlay(key: str, event: str, x: str) -> dict[str, tuple[list[float], list[float]]]:
        return {name: curve(run_dir.read_metrics(event), key, x) for name, run_dir in run_dirs.items()}

    # Interval records (every log_every steps) where the runs have them, else epoch averages.
    fine = all(run_dir.intervals() for run_dir in run_dirs.values())
    event, x = ("interval", "step") if fine else ("epoch", "epoch")
    charts = [line_plot(overlay(key, kind, axis), title, axis, unit, plots / f"{key}.png")
              for key, kind, axis, title, unit in (("loss_g", event, x, "Loss G", "loss"),
                                                   ("loss_d", event, x, "Loss D", "loss"),
                                                   ("d_fake", event, x, "D(G(z))", "score"))]
    charts.append(_fid_chart(settings, run_dirs, plots) if seeded else
                  line_plot(overlay("fid", "eval", "epoch"), "FID during training", "epoch", "FID",
                            plots / "fid.png", log_y=True))
    grids = side_by_side([(run.name, RunDir(run).last_grid()) for run in runs
                          if RunDir(run).last_grid() is not None], plots / "grids.png")
    sections = [
        *([f"<h2>Settings over seeds (sorted by mean FID)</h2><p class=muted>{SEEDS_NOTE}</p>"
           + _table(*seed_table(settings))] if seeded else []),
        "<h2>Results (sorted by FID)</h2>" + _table(list(rows[0]), [list(row.values()) for row in rows]),
        "<h2>Curves</h2><div class=charts>"
        + "".join(_image(chart, chart.stem) for chart in charts if chart) + "</div>",
        "<h2>Last grids</h2>"
        + (_image(grids, "last grids", pixel=True) if grids else "<p>No grids yet.</p>"),
    ]
    write_text_atomic(out, _page(f"ganforge comparison of {len(runs)} runs", sections))
    return out

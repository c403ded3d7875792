"""A sweep's tables: results.csv (every run), results.md (the settings over their seeds with the
best one's lead tested, then every run, ranked by FID) and grids.png (the last grids)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ganforge.atomic import write_text_atomic
from ganforge.runs import RunDir, by_fid
from ganforge.runs.seeds import Setting, seed_table
from ganforge.sweep.spec import SweepSpec


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def settings_of(rows: list[dict[str, Any]]) -> list[Setting]:
    """The rows grouped by trial (a setting), each with its seeds' rows."""
    settings: dict[str, Setting] = {}
    for result in rows:
        settings.setdefault(result["trial"], Setting(result["trial"], [])).runs.append(result)
    return list(settings.values())


def write_results(sweep_dir: Path, rows: list[dict[str, Any]], spec: SweepSpec) -> None:
    """results.csv, results.md and grids.png; each replaced atomically, since several workers of
    one study may write them at once."""
    if not rows:
        return
    # trial (and seed), then every overridden key (trials differ in which), then the measurements
    keys = list(dict.fromkeys(key for result in rows for key in result))
    first = [key for key in ("trial", "seed") if key in keys]
    overridden = [key for key in keys if "." in key]
    columns = [*first, *overridden, *(key for key in keys if key not in first and key not in overridden)]
    table = io.StringIO()
    writer = csv.DictWriter(table, columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(sweep_dir / "results.csv", table.getvalue())

    ranked = sorted(rows, key=by_fid)
    lines = [f"Budget: {spec.budget_words()}."]
    if spec.seeds is not None:
        seeds = ", ".join(str(seed) for seed in spec.seed_list)
        lines += [f"Seeds: {seeds}; mean ± standard deviation over them, and whether the best "
                  "setting's lead is larger than the seeds' noise (Welch's t-test on FID, "
                  "two-sided, 5 %).", "", *markdown_table(*seed_table(settings_of(rows))),
                  "", "Every run:"]
    shown = [column for column in columns if column != "run" or spec.seeds is not None]
    lines += ["", *markdown_table(shown, [[_cell(result.get(column)) for column in shown]
                                          for result in ranked])]
    write_text_atomic(sweep_dir / "results.md", "\n".join(lines) + "\n")
    from ganforge.report.images import side_by_side

    panels = [(result["run"], RunDir(sweep_dir / "trials" / result["run"])) for result in ranked]
    side_by_side([(name, run_dir.last_grid()) for name, run_dir in panels
                  if run_dir.last_grid() is not None], sweep_dir / "grids.png")

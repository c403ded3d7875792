"""Runs of one setting on several seeds, summarised as papers report them: the mean ± standard
deviation of every metric, the per-seed values, and whether the best setting's lead over each
other setting is larger than the seeds' noise.

Runs are one setting when their configs differ only in `train.seed` (and where they ran: device,
data folder). The lead is tested with Welch's t-test on FID, two-sided at 5 %: with three to five
seeds a bootstrap of the difference has too few distinct resamples to give an interval, and two
settings need not share a variance (one that sometimes collapses varies more), which Student's t
would assume.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.config import read_yaml
from ganforge.runs.records import table_summary
from ganforge.runs.run_dir import RunDir

SEED_SUFFIX = re.compile(r"-seed\d+$")
# Keys that do not make another setting: the seed itself, and where a run trained.
NOT_A_SETTING = (("train", "seed"), ("train", "device"), ("data", "path"))
SIGNIFICANCE = 0.05


@dataclass
class Setting:
    name: str
    runs: list[dict[str, Any]]  # one summary row per seed, in seed order

    def values(self, key: str) -> list[float]:
        return [run[key] for run in self.runs if run.get(key) is not None]


def setting_key(config: dict[str, Any]) -> str:
    """What makes two configs one setting: everything but NOT_A_SETTING."""
    config = json.loads(json.dumps(config))
    for section, key in NOT_A_SETTING:
        config.get(section, {}).pop(key, None)
    return json.dumps(config, sort_keys=True)


def group_runs(rows: list[dict[str, Any]], configs: list[dict[str, Any]]) -> list[Setting]:
    """Summary rows (each with "run", its folder name, and "seed") grouped by setting, in the
    order settings first appear; a setting is named by its runs' folder name without -seedN."""
    settings: dict[str, Setting] = {}
    for row, config in zip(rows, configs, strict=True):
        key = setting_key(config)
        if key not in settings:
            settings[key] = Setting(SEED_SUFFIX.sub("", row["run"]), [])
        settings[key].runs.append(row)
    for setting in settings.values():
        setting.runs.sort(key=lambda run: run.get("seed") or 0)
    return list(settings.values())


def settings_in(folders: list[Path]) -> list[Setting]:
    """Run folders grouped by setting; each run is its summary row with its folder name and seed."""
    rows, configs = [], []
    for folder in folders:
        run_dir = RunDir(folder)
        config = read_yaml(run_dir.config_path)
        rows.append({"run": Path(folder).name, "seed": config["train"]["seed"], **run_dir.summary()})
        configs.append(config)
    return group_runs(rows, configs)


def band(curves: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float], list[float],
                                                                  list[float]]:
    """Curves of one setting's seeds (x, y) as (x, mean, lowest, highest) at the x all share."""
    shared = sorted(set.intersection(*(set(xs) for xs, _ in curves))) if curves else []
    columns = [[dict(zip(xs, ys))[x] for xs, ys in curves] for x in shared]
    return (shared, [statistics.fmean(column) for column in columns],
            [min(column) for column in columns], [max(column) for column in columns])


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for the spread of one value)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def lead_test(best: list[float], other: list[float]) -> tuple[float | None, str]:
    """Welch's t-test of two settings' FIDs: (p, verdict). The verdict says whether the
    difference is larger than the seeds' noise; one seed on either side cannot say."""
    if len(best) < 2 or len(other) < 2:
        return None, "untested (one seed)"
    if statistics.pvariance(best) == 0 and statistics.pvariance(other) == 0:
        return (1.0, "within noise") if best == other else (0.0, "real")
    from scipy.stats import ttest_ind

    p = float(ttest_ind(best, other, equal_var=False).pvalue)
    return p, "real" if p < SIGNIFICANCE else "within noise"


def spread_text(values: list[float]) -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "–"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def seed_table(settings: list[Setting]) -> tuple[list[str], list[list[str]]]:
    """The settings sorted by mean FID: columns setting, seeds, each table metric's mean ± std
    (those the runs have), the FID of every seed, and the best setting's lead over each (Welch's
    p and its verdict)."""
    keys = [key for key in table_summary({})
            if any(setting.values(key) for setting in settings)]

    def mean_fid(setting: Setting) -> float:
        return mean_std(setting.values("fid"))[0] or math.inf

    ranked = sorted(settings, key=mean_fid)
    best = ranked[0].values("fid") if ranked else []
    header = ["setting", "seeds", *keys, "FID per seed", "best's lead (Welch p)"]
    rows = []
    for index, setting in enumerate(ranked):
        if index == 0:
            lead = "best"
        else:
            p, verdict = lead_test(best, setting.values("fid"))
            lead = verdict if p is None else f"{verdict} (p={p:.2g})"
        rows.append([setting.name, str(len(setting.runs)),
                     *(spread_text(setting.values(key)) for key in keys),
                     ", ".join(f"{value:.4g}" for value in setting.values("fid")) or "–", lead])
    return header, rows

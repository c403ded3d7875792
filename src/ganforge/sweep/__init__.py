"""Sweeps: many runs of one base config, as a grid, a list, or an Optuna search, then one table.

A spec (YAML):

    base: mnist-dcgan              # a preset name or a config file
    grid:                          # every combination is a trial ...
      train.batch_size: [64, 128]
    trials:                        # ... or an explicit list of override maps
      - {train.batch_size: 64}
      - {preset: mnist-mlp}        # (a trial's own base: a write-up's variants side by side)
    search:                        # --search optuna: ranges instead of values
      train.lr_g: {low: 1.0e-5, high: 1.0e-3, log: true}
      model.z_dim: [32, 64, 128]
    overrides: {train.epochs: 10}  # applied to every trial
    seeds: 3                       # every trial on seeds 0, 1, 2 (or a list: [0, 1, 2])
    budget: {images: 600000}       # every run's length: {images: N} or {minutes: M}
    eval_samples: 5000             # samples per run for the results table

Every run is a normal run folder under `SWEEP/trials/` (NAME, or NAME-seedS with seeds), trained
by `ganforge train` in its own process (a crashing trial cannot take the sweep down; `--jobs N`
runs N at once), or with `--together` all in one process, stacked where their shapes allow
(`training.together`). A sweep is resumable: a finished run is skipped, an interrupted one resumed.

    spec.py     reading and checking a spec, and its runs
    runner.py   training and evaluating the runs
    search.py   the Optuna search
    results.py  results.csv, results.md (mean ± std over seeds, the best's lead tested), grids.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.errors import ConfigError
from ganforge.sweep.runner import run_grid
from ganforge.sweep.search import run_search
from ganforge.sweep.spec import SweepSpec, Trial, expand, load_spec, trial_config


def run_sweep(spec_path: Path, out: Path, *, jobs: int = 1, search: str | None = None, trials: int = 20,
              storage: str | None = None, study: str | None = None, seed: int = 0,
              device: str | None = None, data_dir: str | None = None,
              extra: list[tuple[str, Any]] = (), together: str | None = None) -> Path:
    """A grid or list sweep (or an Optuna search), then OUT/report.html; returns OUT.
    `together`: train all runs at once in one process, in this mode (auto, stack, turns)."""
    from ganforge.report import comparison_report

    spec = load_spec(spec_path)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    if together and (search or jobs > 1):
        raise ConfigError("--together trains every run in one process: drop --jobs and --search")
    if search == "optuna":
        if trials < 1:
            raise ConfigError(f"trials must be at least 1, got {trials}")
        run_search(spec, out, trials, storage, study, device, data_dir, extra, seed)
    elif search is not None:
        raise ConfigError(f"unknown search {search!r}; the one there is: optuna")
    else:
        run_grid(spec, out, jobs, device, data_dir, extra, together)
    comparison_report([out], out / "report.html")
    return out


__all__ = ["SweepSpec", "Trial", "expand", "load_spec", "run_sweep", "trial_config"]

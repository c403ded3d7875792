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
    eval_samples: 5000             # samples per trial for the results table

Every trial is a normal run folder under `SWEEP/trials/`, trained by `ganforge train` in its own
process (a crashing trial cannot take the sweep down; `--jobs N` runs N at once). A sweep is
resumable: a finished trial is skipped, an interrupted one resumed.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganforge.atomic import write_text_atomic
from ganforge.config import Config, dump_yaml, read_yaml, resolve
from ganforge.errors import ConfigError, GanforgeError
from ganforge.runs import RunDir, by_fid
from ganforge.runs.records import table_summary

SPEC_KEYS = {"base", "grid", "trials", "search", "overrides", "eval_samples", "description"}


@dataclass
class SweepSpec:
    base: str = "mnist-dcgan"
    grid: dict[str, list[Any]] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    search: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    eval_samples: int = 5000
    description: str = ""
    folder: Path = Path(".")  # where the spec lives: a relative `base` file is found from there


@dataclass(frozen=True)
class Trial:
    name: str
    overrides: dict[str, Any]


def load_spec(path: Path) -> SweepSpec:
    """Read and check a spec: keys, shapes, and every trial's config (before anything runs)."""
    values = read_yaml(path)
    unknown = sorted(set(values) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown sweep key {unknown[0]!r}; use {', '.join(sorted(SPEC_KEYS))}")
    spec = SweepSpec(**values, folder=path.parent)
    if spec.grid and spec.trials:
        raise ConfigError(f"{path}: give either grid or trials, not both")
    for key, choices in spec.grid.items():
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list of values")
    if not isinstance(spec.eval_samples, int) or spec.eval_samples < 2:
        raise ConfigError(f"{path}: eval_samples must be a whole number >= 2")
    return spec


def trial_config(spec: SweepSpec, overrides: dict[str, Any], extra: list[tuple[str, Any]] = ()) -> Config:
    """The base config (the trial's own `preset`, else the spec's) + the spec's overrides + the
    trial's + `extra` (command-line --set)."""
    overrides = dict(overrides)
    base = overrides.pop("preset", None) or spec.base
    return resolve(base, [*spec.overrides.items(), *overrides.items(), *extra], relative_to=spec.folder)


def _slug(overrides: dict[str, Any]) -> str:
    parts = [f"{key.rsplit('.', 1)[-1]}={value}" for key, value in overrides.items()]
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "", "-".join(parts).replace(" ", ""))[:80] or "base"


def expand(spec: SweepSpec, extra: list[tuple[str, Any]] = ()) -> list[Trial]:
    """The trials of a grid or list spec, each validated; names sort in run order."""
    if spec.grid:
        keys = list(spec.grid)
        combos = [dict(zip(keys, values)) for values in itertools.product(*spec.grid.values())]
    else:
        combos = [dict(trial) for trial in spec.trials] or [{}]
    trials = []
    for index, overrides in enumerate(combos):
        name = f"{index:03d}-{_slug(overrides)}"
        try:
            trial_config(spec, overrides, extra)
        except ConfigError as error:
            raise ConfigError(f"trial {name}: {error}") from None
        trials.append(Trial(name, overrides))
    return trials


def finished(run_dir: RunDir, epochs: int) -> bool:
    return any(record["epoch"] >= epochs and record["complete"] for record in run_dir.epochs())


class Runner:
    """Trains and evaluates trial folders with `ganforge` child processes."""

    def __init__(self, sweep_dir: Path, spec: SweepSpec, device: str | None = None,
                 data_dir: str | None = None, extra: list[tuple[str, Any]] = (), jobs: int = 1):
        self.sweep_dir, self.spec, self.extra = sweep_dir, spec, list(extra)
        self.data_dir = data_dir
        self.flags = [*(["--device", device] if device else []),
                      *(["--data-dir", data_dir] if data_dir else [])]
        self.environment = dict(os.environ)
        if jobs > 1:  # N trainings at once share the cores instead of fighting over them
            self.environment["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
        self._print_lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._print_lock:
            print(text, flush=True)

    def _ganforge(self, name: str, *args: str) -> int:
        log = self.sweep_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as output:
            return subprocess.run([sys.executable, "-m", "ganforge", *args], stdout=output,
                                  stderr=subprocess.STDOUT, env=self.environment).returncode

    def train(self, name: str, config: Config, epochs: int | None = None) -> int:
        """Train trial `name` to `epochs` (default: the config's): new, resumed, or skipped."""
        run_dir = RunDir(self.sweep_dir / "trials" / name)
        target = epochs or config.train.epochs
        if finished(run_dir, target):
            return 0
        config_file = self.sweep_dir / "configs" / f"{name}.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(dump_yaml(config))
        if run_dir.last_checkpoint.is_file():
            args = ["train", "--resume", str(run_dir.root), "--epochs", str(target)]
        else:
            if run_dir.root.exists():  # started but killed before its first checkpoint
                shutil.rmtree(run_dir.root)
            args = ["train", "--config", str(config_file), "--out", str(run_dir.root),
                    "--epochs", str(target)]
        return self._ganforge(name, *args, *self.flags)

    def evaluate(self, name: str) -> dict[str, Any] | None:
        """The table metrics of a trained trial, measured and kept as `ganforge evaluate` does
        (eval.json), computed once, in this process: the feature network loads once for all."""
        from ganforge.evaluation import evaluate
        from ganforge.metrics import table_metrics

        run_dir = RunDir(self.sweep_dir / "trials" / name)
        result = run_dir.evaluation_path
        if result.is_file() and result.stat().st_mtime >= run_dir.last_checkpoint.stat().st_mtime:
            return run_dir.evaluation()
        try:
            return evaluate(run_dir.root, n=self.spec.eval_samples, metrics=table_metrics,
                            data_dir=self.data_dir)
        except GanforgeError as error:
            self.say(f"ganforge sweep: cannot evaluate {name}: {error}")
            return None

    def run(self, trial: Trial, index: int, total: int) -> dict[str, Any]:
        config = trial_config(self.spec, trial.overrides, self.extra)
        code = self.train(trial.name, config)
        evaluation = self.evaluate(trial.name) if code == 0 else None
        status = "done" if evaluation else f"failed (exit {code}; see logs/{trial.name}.log)"
        fid = f"FID {evaluation['fid']:.3f}" if evaluation else status
        self.say(f"ganforge sweep: trial {index + 1}/{total} {trial.name}: {fid}")
        return row(self.sweep_dir / "trials" / trial.name, trial.name, trial.overrides, status)


def row(trial_dir: Path, name: str, overrides: dict[str, Any], status: str) -> dict[str, Any]:
    """One results-table row from a trial folder's files."""
    summary = RunDir(trial_dir).summary()
    return {"trial": name, **overrides, **table_summary(summary),
            "epochs": summary["epochs"], "minutes": summary["minutes"] or 0.0,
            "images_per_s": summary["images_per_s"], "status": status}


def run_grid(spec: SweepSpec, sweep_dir: Path, jobs: int = 1, device: str | None = None,
             data_dir: str | None = None, extra: list[tuple[str, Any]] = ()) -> list[dict[str, Any]]:
    trials = expand(spec, extra)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"base": spec.base, "trials": [trial.overrides for trial in trials],
         "overrides": spec.overrides, "eval_samples": spec.eval_samples,
         "command_line": {key: value for key, value in extra}}, sort_keys=False))
    runner = Runner(sweep_dir, spec, device, data_dir, extra, jobs)
    runner.say(f"ganforge sweep: {len(trials)} trials of {spec.base} in {sweep_dir}"
               f"{f', {jobs} at a time' if jobs > 1 else ''}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(lambda item: runner.run(item[1], item[0], len(trials)), enumerate(trials)))
    write_results(sweep_dir, rows)
    return rows


def _suggest(trial, key: str, space: Any) -> Any:
    """An Optuna suggestion from a spec range: a list of choices, or {low, high[, log][, step]}."""
    if isinstance(space, list):
        return trial.suggest_categorical(key, space)
    if not isinstance(space, dict) or not {"low", "high"} <= set(space):
        raise ConfigError(f"search.{key} must be a list of choices or {{low, high[, log]}}")
    low, high = space["low"], space["high"]
    if isinstance(low, int) and isinstance(high, int) and not space.get("log"):
        return trial.suggest_int(key, low, high, step=space.get("step", 1))
    return trial.suggest_float(key, float(low), float(high), log=bool(space.get("log")))


def _open_storage(optuna, storage: str):
    """Optuna's RDB storage. Workers started together race to create its tables; the loser gets
    a unique-key violation (seen under load in CI) and simply opens the tables the winner made."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    storage, heartbeat_interval=30, grace_period=120,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=1))
        except Exception as error:  # noqa: BLE001 (any driver error: bad URL, server down, auth)
            if isinstance(error, IntegrityError) and attempt < 2:
                time.sleep(0.5)
                continue
            first_line = (str(error).strip().splitlines() or [repr(error)])[0]
            raise GanforgeError(f"cannot open the study storage {storage} ({first_line})") from None


def run_search(spec: SweepSpec, sweep_dir: Path, trials: int, storage: str | None = None,
               study_name: str | None = None, device: str | None = None, data_dir: str | None = None,
               extra: list[tuple[str, Any]] = (), seed: int = 0) -> list[dict[str, Any]]:
    """Optuna TPE over `spec.search`, minimising FID, pruning on the FID after each epoch.

    Several processes (on several machines) given the same `storage` and `study_name` work one
    study: Optuna hands each trial number out once; with an RDB storage a worker that stops
    heart-beating has its trial marked failed and retried once by another worker."""
    try:
        import optuna
    except ImportError:
        raise GanforgeError("--search optuna needs optuna: pip install 'ganforge[sweep]'") from None
    if not spec.search:
        raise ConfigError("--search optuna needs a 'search:' map of ranges in the spec")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(sweep_dir / 'study.db').resolve()}"
    rdb = _open_storage(optuna, storage)
    study = optuna.create_study(
        study_name=study_name or sweep_dir.name, storage=rdb, direction="minimize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runner = Runner(sweep_dir, spec, device, data_dir, extra)
    per_trial_eval = [("train.eval_every", 1), ("train.eval_samples", spec.eval_samples)]

    def objective(trial) -> float:
        overrides = {key: _suggest(trial, key, space) for key, space in spec.search.items()}
        name = f"trial-{trial.number:04d}"
        trial.set_user_attr("folder", str(sweep_dir / "trials" / name))
        config = trial_config(spec, overrides, [*extra, *per_trial_eval])
        fid = float("nan")
        for epoch in range(1, config.train.epochs + 1):  # one process per epoch: prune between
            if runner.train(name, config, epoch) != 0:
                raise optuna.TrialPruned(f"training failed; see logs/{name}.log")
            fid = RunDir(sweep_dir / "trials" / name).evaluations()[-1]["fid"]
            trial.report(fid, epoch)
            if trial.should_prune():
                runner.say(f"ganforge sweep: {name} pruned after epoch {epoch} (FID {fid:.3f})")
                raise optuna.TrialPruned()
        evaluation = runner.evaluate(name)
        if evaluation:
            fid = evaluation["fid"]
            for metric, value in table_summary(evaluation).items():
                trial.set_user_attr(metric, value)
        runner.say(f"ganforge sweep: {name} {overrides}: FID {fid:.3f}")
        return fid

    # Trials in flight count too, so workers sharing a study stop at `trials` in all.
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
              optuna.trial.TrialState.RUNNING)
    study.optimize(objective, n_trials=trials,
                   callbacks=[optuna.study.MaxTrialsCallback(trials, states=states)])
    rows = [row(Path(trial.user_attrs.get("folder", sweep_dir / "trials" / f"trial-{trial.number:04d}")),
                f"trial-{trial.number:04d}", trial.params, trial.state.name.lower())
            for trial in study.get_trials(deepcopy=False)]
    write_results(sweep_dir, rows)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_results(sweep_dir: Path, rows: list[dict[str, Any]]) -> None:
    """results.csv, results.md (sorted by FID) and grids.png (every trial's last grid); each
    replaced atomically, since several workers of one study may write them at once."""
    if not rows:
        return
    # trial, then every overridden key (trials differ in which), then the measurements
    keys = list(dict.fromkeys(key for result in rows for key in result))
    measured = [key for key in keys if key in rows[0] and "." not in key]
    columns = [*measured[:1], *[key for key in keys if key not in measured], *measured[1:]]
    table = io.StringIO()
    writer = csv.DictWriter(table, columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(sweep_dir / "results.csv", table.getvalue())
    ranked = sorted(rows, key=by_fid)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(result.get(column)) for column in columns) + " |"
              for result in ranked]
    write_text_atomic(sweep_dir / "results.md", "\n".join(lines) + "\n")
    from ganforge.report.images import side_by_side

    panels = [(result["trial"], RunDir(sweep_dir / "trials" / result["trial"])) for result in ranked]
    side_by_side([(name, run_dir.last_grid()) for name, run_dir in panels
                  if run_dir.last_grid() is not None], sweep_dir / "grids.png")


def run_sweep(spec_path: Path, out: Path, *, jobs: int = 1, search: str | None = None, trials: int = 20,
              storage: str | None = None, study: str | None = None, seed: int = 0,
              device: str | None = None, data_dir: str | None = None,
              extra: list[tuple[str, Any]] = ()) -> Path:
    """A grid or list sweep (or an Optuna search), then OUT/report.html; returns OUT."""
    from ganforge.report import comparison_report

    spec = load_spec(spec_path)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    if search == "optuna":
        if trials < 1:
            raise ConfigError(f"trials must be at least 1, got {trials}")
        run_search(spec, out, trials, storage, study, device, data_dir, extra, seed)
    elif search is not None:
        raise ConfigError(f"unknown search {search!r}; the one there is: optuna")
    else:
        run_grid(spec, out, jobs, device, data_dir, extra)
    comparison_report([out], out / "report.html")
    return out

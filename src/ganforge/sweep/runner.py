"""Training and evaluating a sweep's runs: each a normal run folder under SWEEP/trials/, trained
by `ganforge train` in its own process (a crashing trial cannot take the sweep down), resumed
where it stopped, skipped when done."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from ganforge.config import Config, dump_yaml
from ganforge.errors import GanforgeError
from ganforge.runs import RunDir
from ganforge.runs.records import table_summary
from ganforge.sweep.results import write_results
from ganforge.sweep.spec import SweepSpec, Trial, expand, trial_config


def trained_minutes(run_dir: RunDir) -> float:
    return sum(record["seconds"] for record in run_dir.epochs()) / 60


def finished(run_dir: RunDir, config: Config, epochs: int | None = None) -> bool:
    """Whether the run has trained what its config asks: `epochs` (default the config's), or its
    budget of images or minutes."""
    records, train = run_dir.epochs(), config.train
    if not records:
        return False
    if train.max_images and records[-1]["step"] * train.batch_size >= train.max_images:
        return True
    if train.max_minutes and trained_minutes(run_dir) >= train.max_minutes:
        return True
    return any(record["epoch"] >= (epochs or train.epochs) and record["complete"] for record in records)


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

    def run_dir(self, name: str) -> RunDir:
        return RunDir(self.sweep_dir / "trials" / name)

    def train(self, name: str, config: Config, epochs: int | None = None) -> int:
        """Train run `name` to `epochs` (default: the config's) or its budget: new, resumed, or
        skipped."""
        run_dir = self.run_dir(name)
        if finished(run_dir, config, epochs):
            return 0
        limits = ["--epochs", str(epochs or config.train.epochs)]
        if config.train.max_minutes:  # a minutes budget counts the minutes already trained
            limits += ["--max-minutes", str(config.train.max_minutes - trained_minutes(run_dir))]
        if run_dir.last_checkpoint.is_file():
            return self._ganforge(name, "train", "--resume", str(run_dir.root), *limits, *self.flags)
        if run_dir.root.exists():  # started but killed before its first checkpoint
            shutil.rmtree(run_dir.root)
        return self._ganforge(name, "train", "--config", str(self._config_file(name, config)),
                              "--out", str(run_dir.root), *limits, *self.flags)

    def train_together(self, trials: list[Trial], mode: str) -> int:
        """Train every unfinished run of `trials` at once in one `ganforge train --together`
        process (stacked where their shapes allow: `training.together`)."""
        listed = []
        for trial in trials:
            config = trial_config(self.spec, trial.overrides, self.extra, trial.seed)
            run_dir = self.run_dir(trial.folder)
            if finished(run_dir, config):
                continue
            if config.train.max_minutes:  # a minutes budget counts the minutes already trained
                config.train.max_minutes -= trained_minutes(run_dir)
            if run_dir.root.exists() and not run_dir.last_checkpoint.is_file():
                shutil.rmtree(run_dir.root)  # started but killed before its first checkpoint
            listed.append({"config": str(self._config_file(trial.folder, config)), "out": str(run_dir.root)})
        if not listed:
            return 0
        together = self.sweep_dir / "configs" / "together.yaml"
        together.write_text(yaml.safe_dump({"runs": listed}, sort_keys=False))
        self.say(f"ganforge sweep: training {len(listed)} runs together (mode {mode})")
        return self._ganforge("together", "train", "--together", str(together), "--mode", mode,
                              *self.flags)

    def _config_file(self, name: str, config: Config) -> Path:
        config_file = self.sweep_dir / "configs" / f"{name}.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(dump_yaml(config))
        return config_file

    def evaluate(self, name: str) -> dict[str, Any] | None:
        """The table metrics of a trained run, measured and kept as `ganforge evaluate` does
        (eval.json), computed once, in this process: the feature network loads once for all."""
        from ganforge.evaluation import evaluate
        from ganforge.metrics import table_metrics

        run_dir = self.run_dir(name)
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
        config = trial_config(self.spec, trial.overrides, self.extra, trial.seed)
        code = self.train(trial.folder, config)
        return self.finish(trial, code, index, total)

    def finish(self, trial: Trial, code: int, index: int, total: int) -> dict[str, Any]:
        """Evaluate a trained run (when training succeeded) and give its results row."""
        evaluation = self.evaluate(trial.folder) if code == 0 else None
        status = "done" if evaluation else f"failed (exit {code}; see logs/{trial.folder}.log)"
        fid = f"FID {evaluation['fid']:.3f}" if evaluation else status
        self.say(f"ganforge sweep: run {index + 1}/{total} {trial.folder}: {fid}")
        return row(self.sweep_dir / "trials" / trial.folder, trial, status)


def row(run_folder: Path, trial: Trial, status: str) -> dict[str, Any]:
    """One results-table row from a run folder's files."""
    summary = RunDir(run_folder).summary()
    seed = {} if trial.seed is None else {"seed": trial.seed}
    return {"trial": trial.name, **seed, **trial.overrides, **table_summary(summary),
            "epochs": summary["epochs"], "minutes": summary["minutes"] or 0.0,
            "images_per_s": summary["images_per_s"], "status": status, "run": run_folder.name}


def run_grid(spec: SweepSpec, sweep_dir: Path, jobs: int = 1, device: str | None = None,
             data_dir: str | None = None, extra: list[tuple[str, Any]] = (),
             together: str | None = None) -> list[dict[str, Any]]:
    """Every run of the spec, `jobs` at a time in their own processes, or all `together` in one
    (mode auto, stack or turns); then the results."""
    trials = expand(spec, extra)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"base": spec.base, "trials": list({trial.name: trial.overrides for trial in trials}.values()),
         "seeds": spec.seeds, "budget": spec.budget, "overrides": spec.overrides,
         "eval_samples": spec.eval_samples,
         "command_line": {key: value for key, value in extra}}, sort_keys=False))
    runner = Runner(sweep_dir, spec, device, data_dir, extra, jobs)
    runner.say(f"ganforge sweep: {len(trials)} runs of {spec.base} in {sweep_dir}"
               f"{f', {jobs} at a time' if jobs > 1 else ''}")
    if together:
        code = runner.train_together(trials, together)
        rows = [runner.finish(trial, code, index, len(trials)) for index, trial in enumerate(trials)]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(lambda item: runner.run(item[1], item[0], len(trials)),
                                 enumerate(trials)))
    write_results(sweep_dir, rows, spec)
    return rows

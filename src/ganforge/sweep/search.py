"""An Optuna search over a spec's `search:` ranges: TPE, minimising FID, pruning between epochs;
several workers can share one study through an RDB storage."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from ganforge.errors import ConfigError, GanforgeError
from ganforge.runs import RunDir
from ganforge.runs.records import table_summary
from ganforge.sweep.results import write_results
from ganforge.sweep.runner import Runner, row
from ganforge.sweep.spec import SweepSpec, Trial, trial_config


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
                Trial(f"trial-{trial.number:04d}", trial.params), trial.state.name.lower())
            for trial in study.get_trials(deepcopy=False)]
    write_results(sweep_dir, rows, spec)
    return rows

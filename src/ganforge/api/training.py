"""Training as the API runs it: a config from a source and shorthands, then a trainer that
starts or resumes a run folder. Returns where the run stands; the API wraps it in a Run."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.config import (
    DEFAULT_PRESET,
    RESUMABLE_KEYS,
    Config,
    Overrides,
    apply_overrides,
    changed_keys,
    config_from_dict,
    dump_yaml,
    override_pairs,
    read_yaml,
    resolve,
)
from ganforge.errors import ConfigError, GanforgeError

logger = logging.getLogger("ganforge")

# Keyword shorthands of `train` and `resume` (and the CLI's flags): each names one config key.
SHORTHANDS = {
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "max_minutes": "train.max_minutes",
    "max_images": "train.max_images",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.device",
    "data_dir": "data.path",
    "checkpoint_every": "train.checkpoint_every",
}


@dataclass(frozen=True)
class Trained:
    root: Path
    stopped_by: int | None  # the signal that stopped training early, if one did
    main_process: bool  # False in the other processes of a torchrun run


def shorthand_pairs(shorthands: Mapping[str, Any]) -> list[tuple[str, Any]]:
    unknown = sorted(set(shorthands) - set(SHORTHANDS))
    if unknown:
        raise TypeError(f"unknown keyword {unknown[0]!r}; the shorthands are {', '.join(SHORTHANDS)} "
                        "(any other key goes in overrides={'section.key': value})")
    return [(SHORTHANDS[name], str(value) if isinstance(value, Path) else value)
            for name, value in shorthands.items() if value is not None]


def make_config(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None,
                **shorthands: Any) -> Config:
    """A validated Config from a preset name, a YAML file or a Config, then `overrides` (any
    dotted key), then the shorthands (`epochs=3`, `device="cpu"`, ...).

    >>> ganforge.make_config("mnist-dcgan", epochs=3, overrides={"train.lr_d": 4e-4}).train.lr_d
    0.0004
    """
    return resolve(source, override_pairs(overrides) + shorthand_pairs(shorthands))


def resume(folder, *, force: bool, progress: bool, overrides: Overrides = None,
           **shorthands: Any) -> Trained:
    """Continue the run in `folder` (a RunDir) with raised limits; other changes need `force`."""
    saved = config_from_dict(read_yaml(folder.config_path))
    pairs = override_pairs(overrides) + shorthand_pairs(shorthands)
    config = config_from_dict(apply_overrides(saved.to_dict(), pairs))
    changed = [key for key in changed_keys(saved, config) if key not in RESUMABLE_KEYS]
    if changed and not force:
        raise ConfigError(f"resuming with a different config ({', '.join(changed)} changed) would "
                          "mix two experiments; drop those overrides, or force it (--force, or "
                          "force=True in Python)")
    return fit(config, out=folder.root, progress=progress, resuming=config != saved)


def log(line: str) -> None:
    """A line for the person watching: the console (above a progress bar) and logger "ganforge"."""
    from tqdm.auto import tqdm

    tqdm.write(line)
    logger.info(line)


def fit(config: Config, *, out: Path, progress: bool, resuming: bool | None = None) -> Trained:
    """Build the trainer (every check), then start or resume the run folder `out` and train.
    `resuming` is None for a new run, else whether the config changed."""
    from ganforge.runs import RunDir, checkpoint
    from ganforge.training.distributed import ranks_from_environment, stop
    from ganforge.training.trainer import Trainer

    ranks = ranks_from_environment()
    try:
        trainer = Trainer.from_config(config, ranks)
        # Every rank must agree on the folder, and only rank 0 writes it.
        run_dir = RunDir(ranks.broadcast(out))
        step = 0
        if resuming is not None and run_dir.last_checkpoint.is_file():
            # (a run killed before its first checkpoint restarts from step 0)
            step = trainer.restore(checkpoint.load(run_dir.last_checkpoint),
                                   str(run_dir.last_checkpoint))
        if ranks.main:
            if resuming is None:
                trainer.start(run_dir)
                log(f"ganforge: training {config.model.name} on {config.data.name} "
                     f"({trainer.total_steps} steps on {trainer.device}); run folder {run_dir.root}")
            else:
                run_dir.make_folders()
                if resuming:
                    run_dir.write_config(dump_yaml(trainer.config))
                log(f"ganforge: resuming {run_dir.root} at step {step} of {trainer.total_steps}")
            _say_distributed(trainer)
        outcome = trainer.fit(run_dir, log=log, progress=progress)
    finally:
        stop()
    return Trained(run_dir.root, outcome.signal_number, ranks.main)


def fit_together(runs: list[tuple[Config, Path]], *, mode: str, progress: bool) -> list[Trained]:
    """Build every run's trainer (every check, before any write), start each new folder or resume
    one with a checkpoint (its own saved config, with the given run-length keys), then train them
    together (`training.together`). A run that diverged raises its error once the others ended."""
    import torch

    from ganforge.runs import RunDir, checkpoint
    from ganforge.training.rng import rng_state
    from ganforge.training.together import (
        MODES,
        RunTogether,
        plan,
        stacking,
        train_together,
        unstackable_reason,
    )
    from ganforge.training.trainer import Trainer

    if mode not in MODES:
        raise ConfigError(f"together mode must be one of {', '.join(MODES)}, got {mode!r}")
    devices = {config.train.device for config, _ in runs}
    if len(devices) > 1:
        raise ConfigError(f"runs trained together share one device; these ask for {sorted(devices)}")
    built = []
    for config, out in runs:
        run_dir = RunDir(out)
        if run_dir.last_checkpoint.is_file():
            saved = config_from_dict(read_yaml(run_dir.config_path))
            config = config_from_dict(apply_overrides(saved.to_dict(), [
                (key, _value(config, key)) for key in sorted(RESUMABLE_KEYS)]))
        trainer = Trainer.from_config(config)
        if run_dir.last_checkpoint.is_file():
            trainer.restore(checkpoint.load(run_dir.last_checkpoint), str(run_dir.last_checkpoint))
        # With the streams this run would train on alone (the next set-up reseeds them).
        built.append((trainer, run_dir, rng_state()))
    groups = plan([trainer for trainer, _, _ in built], mode)
    stacks = [len(group) for group in groups if len(group) > 1]
    log(f"ganforge: {len(runs)} runs together on {built[0][0].device}: "
        f"{', '.join(f'a stack of {count}' for count in stacks) or 'no stack'}"
        f"{f', {len(groups) - len(stacks)} in turns' if len(groups) > len(stacks) else ''}")
    if stacking(mode, built[0][0].device):
        for trainer, run_dir, _ in built:
            if reason := unstackable_reason(trainer):
                log(f"ganforge: {run_dir.root.name} takes turns: {reason}")
    for trainer, run_dir, _ in built:
        if run_dir.last_checkpoint.is_file():
            run_dir.make_folders()
            run_dir.write_config(dump_yaml(trainer.config))
        else:
            trainer.start(run_dir)
    with torch.random.fork_rng(devices=[]):
        outcomes = train_together([RunTogether(*run) for run in built], mode=mode, log=log,
                                  progress=progress)
    failed = [outcome for outcome in outcomes if isinstance(outcome, GanforgeError)]
    if failed:
        raise failed[0]
    return [Trained(run_dir.root, outcome.signal_number, True)
            for (_, run_dir, _), outcome in zip(built, outcomes)]


def _value(config: Config, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(config, section), key)


def _say_distributed(trainer) -> None:
    ranks, train_config, cuda = trainer.ranks, trainer.config.train, trainer.device.type == "cuda"
    if ranks.active:
        log(f"ganforge: {ranks.world_size} processes ({'nccl' if cuda else 'gloo'}), batch "
             f"{train_config.batch_size} per process = {train_config.batch_size * ranks.world_size} "
             "per step; learning rates as configured (not scaled); gradients averaged over processes"
             f"{'; SyncBatchNorm' if train_config.sync_batch_norm and cuda else ''}")


def dry_run(source: str | Path | Config = DEFAULT_PRESET, *, overrides: Overrides = None,
            **shorthands: Any) -> str:
    """Everything `train` checks, plus one forward/backward step on a small batch; nothing is
    written. Returns the resolved config and the model tables."""
    import torch

    from ganforge.summary import model_summary
    from ganforge.training.step import train_step
    from ganforge.training.trainer import Trainer

    config = make_config(source, overrides=overrides, **shorthands)
    trainer = Trainer.from_config(config)
    real_images, labels = next(trainer.batches.epoch(0))
    count = min(8, len(real_images))
    z = torch.randn(count, config.model.z_dim, device=trainer.device)
    stats = train_step(trainer.gan, real_images[:count], z,
                       labels[:count] if trainer.gan.generator.num_classes else None)
    if not torch.isfinite(stats).all():
        raise GanforgeError("dry run: the first step produced NaN/Inf; check the learning rates")
    return "\n".join([dump_yaml(config).rstrip(), model_summary(config),
                      f"ganforge: dry run passed on {trainer.device} (data verified, models built, "
                      "one forward/backward step); nothing was written"])



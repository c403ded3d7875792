"""`ganforge train`: a new run, a resumed one, or a dry run that writes nothing."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from ganforge.cli.common import DEVICES, add_config_source, config_from_args, overrides
from ganforge.errors import ConfigError, GanforgeError


def register(commands) -> None:
    train = commands.add_parser("train", help="train a GAN (new run, or --resume RUN_DIR)")
    add_config_source(train, "a preset name (default mnist-dcgan); see 'presets'")
    train.add_argument("--out", type=Path, help="run folder (default runs/NAME-TIMESTAMP)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-minutes", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=DEVICES)
    train.add_argument("--data-dir", help="the folder holding the dataset files (must exist)")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="also checkpoint every N steps inside an epoch (train.checkpoint_every)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run")
    train.add_argument("--dry-run", action="store_true",
                       help="validate everything and run one step on a small batch; write nothing")
    train.add_argument("--force", action="store_true",
                       help="with --resume: accept config changes beyond epochs/steps/minutes")
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ganforge.training.distributed import ranks_from_environment, stop

    ranks = ranks_from_environment()
    try:
        return _resume(args, ranks) if args.resume else _train(args, ranks)
    finally:
        stop()


def _train(args: argparse.Namespace, ranks) -> int:
    from ganforge.runs import RunDir
    from ganforge.training.trainer import Trainer

    config = config_from_args(args)
    trainer = Trainer.from_config(config, ranks)
    if args.dry_run:
        return _dry_run(trainer)
    name = args.preset or (args.config.stem if args.config else "mnist-dcgan")
    # Every rank must agree on the folder, and only rank 0 writes it.
    run_dir = RunDir(ranks.broadcast(args.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"))
    if ranks.main:
        trainer.start(run_dir)
        print(f"ganforge: training {config.model.name} on {config.data.name} "
              f"({trainer.total_steps} steps on {trainer.device}); run folder {run_dir.root}", flush=True)
        _say_distributed(trainer)
    return _finish(trainer.fit(run_dir), run_dir, ranks)


def _say_distributed(trainer) -> None:
    ranks, train, cuda = trainer.ranks, trainer.config.train, trainer.device.type == "cuda"
    if ranks.active:
        print(f"ganforge: {ranks.world_size} processes ({'nccl' if cuda else 'gloo'}), batch "
              f"{train.batch_size} per process = {train.batch_size * ranks.world_size} per step; "
              "learning rates as configured (not scaled); gradients averaged over processes"
              f"{'; SyncBatchNorm' if train.sync_batch_norm and cuda else ''}", flush=True)


def _dry_run(trainer) -> int:
    """Everything up to the first step, plus one step on a small batch; nothing is written."""
    import torch

    from ganforge.cli.inspect import model_summary
    from ganforge.config import dump_yaml
    from ganforge.training.step import train_step

    config = trainer.config
    real_images, labels = next(trainer.batches.epoch(0))
    count = min(8, len(real_images))
    z = torch.randn(count, config.model.z_dim, device=trainer.device)
    stats = train_step(trainer.gan, real_images[:count], z,
                       labels[:count] if trainer.gan.generator.num_classes else None)
    if not torch.isfinite(stats).all():
        raise GanforgeError("dry run: the first step produced NaN/Inf; check the learning rates")
    print(dump_yaml(config).rstrip())
    print(model_summary(config))
    print(f"ganforge: dry run passed on {trainer.device} (data verified, models built, one "
          "forward/backward step); nothing was written")
    return 0


def _finish(outcome, run_dir, ranks) -> int:
    """The closing line of a training command, and its exit code (128 + signal when stopped)."""
    if outcome.signal_number is not None:
        name = signal.Signals(outcome.signal_number).name
        if ranks.main:
            print(f"ganforge: stopped by {name} at step {outcome.step} with a checkpoint; continue "
                  f"with: ganforge train --resume {run_dir.root}", file=sys.stderr)
        return 128 + outcome.signal_number
    if ranks.main:
        print(f"ganforge: done; samples in {run_dir.samples}, checkpoint {run_dir.last_checkpoint}")
    return 0


def _resume(args: argparse.Namespace, ranks) -> int:
    from ganforge.config import (
        RESUMABLE_KEYS,
        apply_overrides,
        changed_keys,
        config_from_dict,
        dump_yaml,
        read_yaml,
    )
    from ganforge.runs import RunDir, checkpoint
    from ganforge.training.trainer import Trainer

    if args.preset or args.config or args.out:
        raise ConfigError("--resume continues a run with its own config and folder; "
                          "drop --preset, --config and --out (use --set to change keys)")
    run_dir = RunDir(args.resume)
    if not run_dir.exists():
        raise GanforgeError(f"{run_dir.root} is not a ganforge run folder (no config.yaml); "
                            "pass the folder a 'ganforge train' run created")
    saved = config_from_dict(read_yaml(run_dir.config_path))
    config = config_from_dict(apply_overrides(saved.to_dict(), overrides(args)))
    changed = [key for key in changed_keys(saved, config) if key not in RESUMABLE_KEYS]
    if changed and not args.force:
        raise ConfigError(f"resuming with a different config ({', '.join(changed)} changed) would "
                          "mix two experiments; drop those overrides, or pass --force")
    trainer = Trainer.from_config(config, ranks)
    step, epoch_stats = 0, None
    if run_dir.last_checkpoint.is_file():  # a run killed before its first checkpoint restarts
        step, epoch_stats = trainer.restore(checkpoint.load(run_dir.last_checkpoint),
                                            str(run_dir.last_checkpoint))
    if ranks.main:
        run_dir.make_folders()
        if config != saved:
            run_dir.write_config(dump_yaml(config))
        print(f"ganforge: resuming {run_dir.root} at step {step} of {trainer.total_steps}", flush=True)
        _say_distributed(trainer)
    return _finish(trainer.fit(run_dir, step, epoch_stats), run_dir, ranks)

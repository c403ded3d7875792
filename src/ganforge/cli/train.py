"""`ganforge train`: a new run, a resumed one, or a dry run that writes nothing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganforge import api
from ganforge.cli.common import DEVICES, add_config_source, config_source, shorthands
from ganforge.errors import ConfigError


def register(commands) -> None:
    train = commands.add_parser("train", help="train a GAN (new run, or --resume RUN_DIR)")
    add_config_source(train, "a preset name (default mnist-dcgan); see 'presets'")
    train.add_argument("--out", type=Path, help="run folder (default runs/NAME-TIMESTAMP)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-minutes", type=float)
    train.add_argument("--max-images", type=int, metavar="N",
                       help="train N images (whole batches; replaces --epochs as the run's length)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=DEVICES)
    train.add_argument("--data-dir", help="the folder holding the dataset files (must exist)")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="also checkpoint every N steps inside an epoch (train.checkpoint_every)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run")
    train.add_argument("--together", type=Path, metavar="LIST",
                       help="train the runs a YAML file lists (runs: [{config: FILE, out: DIR}]) at "
                            "once in one process; a folder with a checkpoint resumes")
    train.add_argument("--mode", choices=["auto", "stack", "turns"], default="auto",
                       help="with --together: stack same-shape runs (auto: on CUDA) or take turns")
    train.add_argument("--dry-run", action="store_true",
                       help="validate everything and run one step on a small batch; write nothing")
    train.add_argument("--force", action="store_true",
                       help="with --resume: accept config changes beyond epochs/steps/minutes")
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    source = config_source(args) or api.DEFAULT_PRESET
    if args.dry_run:
        print(api.dry_run(source, overrides=args.set, **shorthands(args)))
        return 0
    if args.together:
        if args.preset or args.config or args.out or args.resume:
            raise ConfigError("--together takes every run's config and folder from its list; "
                              "drop --preset, --config, --out and --resume")
        runs = api.train_together(args.together, mode=args.mode, overrides=args.set, **shorthands(args))
        stopped = next((run for run in runs if run.interrupted), None)
        if stopped:
            print(f"ganforge: stopped by {stopped.interrupted} with checkpoints; continue with: "
                  f"ganforge train --together {args.together}", file=sys.stderr)
            return 128 + stopped.stopped_by
        print(f"ganforge: done; {len(runs)} runs in {', '.join(str(run.root) for run in runs)}")
        return 0
    if args.resume:
        if args.preset or args.config or args.out:
            raise ConfigError("--resume continues a run with its own config and folder; "
                              "drop --preset, --config and --out (use --set to change keys)")
        run = api.resume(args.resume, overrides=args.set, force=args.force, **shorthands(args))
    else:
        run = api.train(source, out=args.out, overrides=args.set, **shorthands(args))
    if run.interrupted:
        if run.main_process:
            print(f"ganforge: stopped by {run.interrupted} at step {run.step} with a checkpoint; "
                  f"continue with: ganforge train --resume {run.root}", file=sys.stderr)
        return 128 + run.stopped_by
    if run.main_process:
        print(f"ganforge: done; samples in {run.folder.samples}, checkpoint "
              f"{run.folder.last_checkpoint}")
    return 0

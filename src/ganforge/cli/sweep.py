"""`ganforge sweep`: a grid, list or Optuna search of configs, each trained as a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge import api
from ganforge.cli.common import DEVICES, at_least


def register(commands) -> None:
    sweep = commands.add_parser("sweep", help="train a grid, list or Optuna search of configs")
    sweep.add_argument("spec", type=Path, help="a sweep spec (YAML), e.g. sweeps/course-hparams.yaml")
    sweep.add_argument("--out", type=Path, help="sweep folder (default sweeps-out/SPEC-TIMESTAMP)")
    sweep.add_argument("--jobs", type=at_least(1), default=1, help="trials trained at once (grid and list)")
    sweep.add_argument("--together", nargs="?", const="auto", choices=["auto", "stack", "turns"],
                       help="train every run at once in one process: same-shape runs as one stacked "
                            "model (auto: on CUDA), the others in turns")
    sweep.add_argument("--search", choices=["optuna"], help="search the spec's 'search:' ranges")
    sweep.add_argument("--trials", type=at_least(1), default=20, help="with --search: trials in all")
    sweep.add_argument("--storage", help="with --search: an Optuna RDB URL, e.g. postgresql://"
                       "user@host/db (default: SQLite file in the sweep folder)")
    sweep.add_argument("--study", help="with --search: study name (default: the sweep folder's)")
    sweep.add_argument("--seed", type=int, default=0, help="with --search: the sampler's seed")
    sweep.add_argument("--device", choices=DEVICES)
    sweep.add_argument("--data-dir")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key in every trial (repeatable)")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    out = api.sweep(args.spec, out=args.out, jobs=args.jobs, search=args.search, trials=args.trials,
                    storage=args.storage, study=args.study, seed=args.seed, device=args.device,
                    data_dir=args.data_dir, overrides=args.set, together=args.together)
    print(f"ganforge: results in {out / 'results.md'} and {out / 'report.html'}")
    print((out / "results.md").read_text())
    return 0

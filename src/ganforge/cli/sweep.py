"""`ganforge sweep`: a grid, list or Optuna search of configs, each trained as a run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ganforge.cli.common import DEVICES
from ganforge.errors import ConfigError


def register(commands) -> None:
    sweep = commands.add_parser("sweep", help="train a grid, list or Optuna search of configs")
    sweep.add_argument("spec", type=Path, help="a sweep spec (YAML), e.g. sweeps/course-hparams.yaml")
    sweep.add_argument("--out", type=Path, help="sweep folder (default sweeps-out/SPEC-TIMESTAMP)")
    sweep.add_argument("--jobs", type=int, default=1, help="trials trained at once (grid and list)")
    sweep.add_argument("--search", choices=["optuna"], help="search the spec's 'search:' ranges")
    sweep.add_argument("--trials", type=int, default=20, help="with --search: trials in all")
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
    from ganforge.config import parse_override
    from ganforge.report import comparison_report
    from ganforge.sweep import load_spec, run_grid, run_search

    spec = load_spec(args.spec)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    out = args.out or Path("sweeps-out") / f"{args.spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    extra = [parse_override(text) for text in args.set]
    if args.search == "optuna":
        if args.trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {args.trials}")
        run_search(spec, out, args.trials, args.storage, args.study, args.device, args.data_dir, extra,
                   args.seed)
    else:
        run_grid(spec, out, args.jobs, args.device, args.data_dir, extra)
    page = comparison_report([out], out / "report.html")
    print(f"ganforge: results in {out / 'results.md'} and {page}")
    print((out / "results.md").read_text())
    return 0

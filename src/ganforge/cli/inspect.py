"""Looking before and after training: `summary`, `show-data`, `presets`, `metrics`, `info`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge import api
from ganforge.cli.common import add_config_source, at_least, config_source


def register(commands) -> None:
    summary = commands.add_parser("summary", help="layer tables of G and D: shapes, params, MACs")
    add_config_source(summary)
    summary.set_defaults(handler=cmd_summary)

    show = commands.add_parser("show-data", help="a grid of a real batch as training sees it")
    add_config_source(show)
    show.add_argument("--data-dir")
    show.add_argument("--out", type=Path, required=True, help="a .png file")
    show.add_argument("--n", type=at_least(1), default=64)
    show.add_argument("--compare", type=Path, metavar="RUN",
                      help="a run folder or checkpoint: its samples beside the real ones")
    show.set_defaults(handler=cmd_show_data)

    presets = commands.add_parser("presets", help="list presets")
    presets.set_defaults(handler=cmd_presets)
    metrics = commands.add_parser("metrics", help="list metrics: what each reports, which way is better")
    metrics.set_defaults(handler=cmd_metrics)

    info = commands.add_parser("info", help="show a run's config and last metrics")
    info.add_argument("run", type=Path)
    info.set_defaults(handler=cmd_info)


def cmd_summary(args: argparse.Namespace) -> int:
    print(api.summary(config_source(args) or api.DEFAULT_PRESET, overrides=args.set))
    return 0


def cmd_show_data(args: argparse.Namespace) -> int:
    print("ganforge: " + api.show_data(config_source(args) or api.DEFAULT_PRESET, args.out, n=args.n,
                                       compare=args.compare, data_dir=args.data_dir,
                                       overrides=args.set))
    return 0


# When `evaluate` computes a metric unasked, by its registration's `default`.
DEFAULT_WORDS = {"any": "default", "classes": "default with digit features",
                 "no classes": "default with random/inception features", "never": "on request"}


def cmd_metrics(args: argparse.Namespace) -> int:
    for name, metric in api.metric_info().items():
        keys = ", ".join(f"{key} {'↓' if better == 'lower' else '↑'}"
                         for key, better in metric["keys"].items())
        roles = [DEFAULT_WORDS[metric["default"]], *(["in training"] if metric["training"] else []),
                 *(["in tables"] if metric["tables"] else [])]
        print(f"{name:13s} {keys}  ({', '.join(roles)})")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name, description in api.presets().items():
        print(f"{name:20s} {description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(api.info(args.run))
    return 0

"""`ganforge sample` and `ganforge interpolate`: images from a run, checkpoint or export."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge import api
from ganforge.cli.common import at_least


def register(commands) -> None:
    sample = commands.add_parser("sample", help="draw images from a run or checkpoint")
    sample.add_argument("source", type=Path,
                        help="a run folder, checkpoint file or exported .ts/.onnx/.safetensors")
    sample.add_argument("--n", type=at_least(1), default=64, help="how many images (default 64)")
    sample.add_argument("--out", type=Path, required=True,
                        help="FILE.png (a grid), FILE.npy (uint8 N,C,H,W) or a folder of PNGs")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int, help="class to draw (conditional models)")
    sample.add_argument("--grid-by-class", action="store_true",
                        help="a 10x10 grid, one row per class (conditional models)")
    sample.add_argument("--no-ema", action="store_true", help="use G's raw weights, not its EMA")
    sample.set_defaults(handler=cmd_sample)

    interpolate = commands.add_parser("interpolate", help="walk the latent space between two seeds")
    interpolate.add_argument("source", type=Path, help="a run folder or checkpoint file")
    interpolate.add_argument("--steps", type=at_least(2), default=10)
    interpolate.add_argument("--out", type=Path, required=True, help="FILE.png (a row) or FILE.gif")
    interpolate.add_argument("--seed", type=int, default=0, help="seed of the start point")
    interpolate.add_argument("--seed2", type=int, default=1, help="seed of the end point")
    interpolate.add_argument("--label", type=int, help="class held along the walk (default 0)")
    interpolate.add_argument("--no-ema", action="store_true")
    interpolate.set_defaults(handler=cmd_interpolate)


def cmd_sample(args: argparse.Namespace) -> int:
    print("ganforge: " + api.save_samples(args.source, args.out, n=args.n, seed=args.seed,
                                          label=args.label, grid_by_class=args.grid_by_class,
                                          ema=not args.no_ema))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    print("ganforge: " + api.interpolate(args.source, args.out, steps=args.steps, seed=args.seed,
                                         seed2=args.seed2, label=args.label, ema=not args.no_ema))
    return 0

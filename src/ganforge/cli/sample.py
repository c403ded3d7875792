"""`ganforge sample` and `ganforge interpolate`: images from a run, checkpoint or export."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.common import labels_for
from ganforge.errors import ConfigError


def register(commands) -> None:
    sample = commands.add_parser("sample", help="draw images from a run or checkpoint")
    sample.add_argument("source", type=Path,
                        help="a run folder, checkpoint file or exported .ts/.onnx/.safetensors")
    sample.add_argument("--n", type=int, default=64, help="how many images (default 64)")
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
    interpolate.add_argument("--steps", type=int, default=10)
    interpolate.add_argument("--out", type=Path, required=True, help="FILE.png (a row) or FILE.gif")
    interpolate.add_argument("--seed", type=int, default=0, help="seed of the start point")
    interpolate.add_argument("--seed2", type=int, default=1, help="seed of the end point")
    interpolate.add_argument("--label", type=int, help="class held along the walk (default 0)")
    interpolate.add_argument("--no-ema", action="store_true")
    interpolate.set_defaults(handler=cmd_interpolate)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from ganforge.generation import generate, generate_chunks, load_generator, write_images, write_samples

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    generator = load_generator(args.source, ema=not args.no_ema)
    if args.grid_by_class:
        if not generator.num_classes:
            raise ConfigError("--grid-by-class needs a conditional model")
        per_class = 10
        labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
        images = generate(generator, len(labels), args.seed, labels=labels)
        print(f"ganforge: {write_images(images, args.out, columns=per_class)}")
        return 0
    chunks = generate_chunks(generator, args.n, args.seed, labels=labels_for(generator, args, args.n))
    print(f"ganforge: {write_samples(chunks, args.n, args.out)}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from ganforge.generation import generate, load_generator, slerp, write_images

    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {args.steps}")
    if args.out.suffix not in (".png", ".gif"):
        raise ConfigError(f"--out must end in .png or .gif, got {args.out}")
    generator = load_generator(args.source, ema=not args.no_ema)
    ends = [torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(seed))
            for seed in (args.seed, args.seed2)]
    z = slerp(*ends, torch.linspace(0, 1, args.steps)[:, None])
    labels = labels_for(generator, args, args.steps)
    if labels is None and generator.num_classes:
        labels = torch.zeros(args.steps, dtype=torch.long)  # hold the class fixed along the walk
    images = generate(generator, args.steps, labels=labels, z=z)
    print(f"ganforge: {write_images(images, args.out, columns=args.steps)}")
    return 0

"""What every command module shares: the config-source flags, train shorthands, label flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.errors import ConfigError

# Train flags that are shorthands for config keys.
TRAIN_FLAGS = {
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "max_minutes": "train.max_minutes",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.device",
    "data_dir": "data.path",
    "checkpoint_every": "train.checkpoint_every",
}


DEVICES = ["auto", "cpu", "cuda", "mps"]


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (it normally prints the usage first)."""

    def error(self, message: str):
        self.exit(2, f"ganforge: error: {message} (see '{self.prog} --help')\n")


def add_config_source(parser: argparse.ArgumentParser, preset_help: str | None = None) -> None:
    """--preset NAME | --config FILE, and --set KEY=VALUE (repeatable): where a config comes from."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help=preset_help)
    source.add_argument("--config", type=Path, help="a YAML config file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.lr_g=1e-4 (repeatable)")


def overrides(args: argparse.Namespace) -> list:
    """(dotted key, value) pairs from --set and from the shorthand flags a command has."""
    from ganforge.config import parse_override

    pairs = [parse_override(text) for text in args.set]
    return pairs + [(key, getattr(args, flag)) for flag, key in TRAIN_FLAGS.items()
                    if getattr(args, flag, None) is not None]


def config_from_args(args: argparse.Namespace):
    """The validated config the --preset/--config/--set flags (and train shorthands) describe."""
    from ganforge.config import load_config

    return load_config(args.preset, args.config, overrides(args))


def labels_for(generator, args: argparse.Namespace, count: int):
    """--label k for every image, or None (every class in turn) for a conditional generator."""
    import torch

    if args.label is None:
        return None
    if not generator.num_classes:
        raise ConfigError("--label needs a conditional model (this generator ignores labels)")
    if not 0 <= args.label < generator.num_classes:
        raise ConfigError(f"--label must be in 0..{generator.num_classes - 1}, got {args.label}")
    return torch.full((count,), args.label)

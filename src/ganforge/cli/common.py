"""What every command module shares: the config-source flags, train shorthands, label flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge import api
from ganforge.api import SHORTHANDS

DEVICES = list(api.DEVICES)


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


def config_source(args: argparse.Namespace):
    """The --config file, else the --preset name, else None (the API's default preset)."""
    return args.config or args.preset


def shorthands(args: argparse.Namespace) -> dict:
    """The train shorthand flags a command has (--epochs, --device, ...), by API keyword."""
    return {name: getattr(args, name) for name in SHORTHANDS if getattr(args, name, None) is not None}


def at_least(minimum: int):
    """An argparse type: a whole number no smaller than `minimum` (the API checks again)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse

"""`ganforge report` and `ganforge compare`: a run's page, or runs and sweeps side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge import api


def register(commands) -> None:
    report = commands.add_parser("report", help="an HTML report of a run, or comparing runs/sweeps")
    report.add_argument("runs", type=Path, nargs="+", help="a run folder, a sweep folder, or several")
    report.add_argument("--out", type=Path, help="for comparisons: the page to write")
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser("compare", help="the comparison table of runs, in the terminal")
    compare.add_argument("runs", type=Path, nargs="+", help="run or sweep folders")
    compare.set_defaults(handler=cmd_compare)


def cmd_report(args: argparse.Namespace) -> int:
    print(f"ganforge: wrote {api.report(args.runs, out=args.out)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    print(api.compare(args.runs))
    return 0

"""`ganforge report` and `ganforge compare`: a run's page, or runs and sweeps side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.errors import ConfigError


def register(commands) -> None:
    report = commands.add_parser("report", help="an HTML report of a run, or comparing runs/sweeps")
    report.add_argument("runs", type=Path, nargs="+", help="a run folder, a sweep folder, or several")
    report.add_argument("--out", type=Path, help="for comparisons: the page to write")
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser("compare", help="the comparison table of runs, in the terminal")
    compare.add_argument("runs", type=Path, nargs="+", help="run or sweep folders")
    compare.set_defaults(handler=cmd_compare)


def cmd_report(args: argparse.Namespace) -> int:
    from ganforge.report import comparison_report, run_report
    from ganforge.runs import RunDir

    if len(args.runs) == 1 and RunDir(args.runs[0]).config_path.is_file():
        print(f"ganforge: wrote {run_report(args.runs[0])}")
        return 0
    for path in args.runs:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder; give run or sweep folders")
    out = args.out or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("comparison.html"))
    print(f"ganforge: wrote {comparison_report(args.runs, out)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ganforge.report import compare_table

    print(compare_table(args.runs))
    return 0

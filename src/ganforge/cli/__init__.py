"""The `ganforge` command: one module per command (parse, call one function, print); here the
parser that gathers them and the error handling every command shares."""

from __future__ import annotations

import os
import select
import signal
import sys
import warnings

from ganforge.cli import evaluate, export, inspect, report, sample, serve, sweep, train
from ganforge.cli.common import Parser
from ganforge.errors import GanforgeError
from ganforge.version import __version__

COMMANDS = (train, sample, inspect, evaluate, export, serve, sweep, report)


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, measure, compare and sample GANs.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(commands)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"ganforge: warning: {message}\n"


def _stdout_closed() -> bool:
    """Whether standard output's reader is gone (not some other pipe or socket): the write end
    of a pipe whose read end closed polls as an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured), no poll
        return False


def _quiet_closed_pipe() -> int:
    """Output into a closed pipe (`ganforge presets | head -1`) ends quietly, as a Unix tool's:
    stdout goes to /dev/null so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # a warning is for the user: no file and line
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        return _quiet_closed_pipe()
    except GanforgeError as error:
        print(f"ganforge: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130

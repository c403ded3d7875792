"""The reference pages' lists, from the code, so they cannot drift from it.

    python docs/reference.py          # rewrite the generated blocks (commands, metrics)
    python docs/reference.py --check  # exit 1 naming what is stale or missing (the tests run it)

Generated (between `<!-- generated: NAME -->` and `<!-- end -->`): every command and flag in
docs/commands.md, every metric in docs/metrics.md. Checked: docs/config.md's table names every
config key and no other; docs/presets.md's first table names every preset and no other.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from pathlib import Path

from ganforge.cli import build_parser
from ganforge.config import Config, preset_names
from ganforge.metrics import registered

DOCS = Path(__file__).resolve().parent


def commands() -> str:
    """One entry per command: its help, then its usage as argparse prints it (at a fixed width,
    whatever the terminal)."""
    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    lines = []
    for name, command in subparsers.choices.items():
        lines += [f"### `ganforge {name}`", "", helps.get(name, ""), "", "```",
                  command.format_help().strip().replace("usage: ", "", 1), "```", ""]
    return "\n".join(lines).rstrip()


def metrics() -> str:
    words = {"any": "yes", "classes": "digit features", "no classes": "random/inception",
             "never": "on request"}
    lines = ["| metric | reports | default | training | tables |", "|---|---|---|---|---|"]
    for metric in registered():
        keys = ", ".join(f"`{key.name}` {'↓' if key.better == 'lower' else '↑'}" for key in metric.keys)
        lines.append(f"| `{metric.name}` | {keys} | {words[metric.default]} | "
                     f"{'yes' if metric.training else ''} | {'yes' if metric.tables else ''} |")
    return "\n".join(lines)


GENERATED = {"commands.md": ("commands", commands), "metrics.md": ("metrics", metrics)}


def config_keys() -> set[str]:
    return {f"{name}.{field.name}" for name, value in vars(Config()).items()
            if dataclasses.is_dataclass(value) for field in dataclasses.fields(value)}


def table_names(text: str, pattern: str) -> set[str]:
    """The backquoted names in the first cells of a markdown table's rows."""
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            cell = line.split(" | ")[0]
            names |= set(re.findall(pattern, cell))
            # "`report-exp1` … `report-exp10`": the whole numbered range
            for stem, first, last in re.findall(r"`([a-z-]+?)(\d+)` … `\1(\d+)`", cell):
                names |= {f"{stem}{number}" for number in range(int(first), int(last) + 1)}
    return names


def first_table(text: str) -> str:
    start = text.index("\n|")
    end = text.find("\n\n", start)
    return text[start:end if end != -1 else len(text)]


def problems(write: bool) -> list[str]:
    found = []
    for page, (block, make) in GENERATED.items():
        path = DOCS / page
        text = path.read_text()
        match = re.search(rf"<!-- generated: {block} -->\n(.*?)<!-- end -->", text, re.S)
        if match is None:
            found.append(f"{page}: no <!-- generated: {block} --> block")
            continue
        updated = text[:match.start(1)] + make() + "\n" + text[match.end(1):]
        if updated != text:
            if write:
                path.write_text(updated)
            else:
                found.append(f"{page}: the {block} block is stale; run python docs/reference.py")
    documented = table_names((DOCS / "config.md").read_text(), r"`([a-z_]+\.[a-z_0-9]+)`")
    keys = config_keys()
    found += [f"config.md: key {key} is not documented" for key in sorted(keys - documented)]
    found += [f"config.md: {key} is not a config key" for key in sorted(documented - keys)]
    listed = table_names(first_table((DOCS / "presets.md").read_text()), r"`([a-z0-9-]+)`")
    presets = set(preset_names())
    found += [f"presets.md: preset {name} is not in the table" for name in sorted(presets - listed)]
    found += [f"presets.md: {name} is not a preset" for name in sorted(listed - presets)]
    return found


def main() -> int:
    check = "--check" in sys.argv[1:]
    found = problems(write=not check)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

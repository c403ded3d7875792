"""docs/writeups.md's tables, checked against the presets: the last column of every row is the
preset's value of the row's key, as the preset file sets it.

    python docs/writeups.py            rewrite the preset column from the presets
    python docs/writeups.py --check    exit 1, naming the rows, where the page and the presets differ

A table follows a heading that names its preset in backticks; its columns are
| setting | the write-up | key | preset |. The test suite runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ganforge.config import resolve

PAGE = Path(__file__).resolve().parent / "writeups.md"
HEADING = re.compile(r"^#+ .*`([a-z0-9-]+)`")


def rendered(value) -> str:
    """A config value as the page shows it."""
    if value is None:
        return "– (the model's own)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(rendered(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def preset_value(preset: str, key: str):
    # (a folder preset needs some data.path to validate; no key of the page reads it)
    config = resolve(preset, overrides=[("data.path", "DIR")]).to_dict()
    for part in key.split("."):
        config = config[part]
    return config


def refreshed(text: str) -> tuple[str, list[str]]:
    """The page with every preset cell recomputed, and the rows that changed."""
    lines, changes, preset = [], [], None
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            preset = heading.group(1)
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if preset and len(cells) == 4 and cells[2].startswith("`") and cells[2] != "`key`":
            key = cells[2].strip("`")
            value = rendered(preset_value(preset, key))
            if cells[3] != value:
                changes.append(f"{preset} {key}: the page says {cells[3]!r}, the preset {value!r}")
            line = f"| {cells[0]} | {cells[1]} | `{key}` | {value} |"
        lines.append(line)
    return "\n".join(lines) + "\n", changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text, changes = refreshed(PAGE.read_text())
    if args.check:
        print("\n".join(changes) or "docs/writeups.md matches the presets")
        return 1 if changes else 0
    PAGE.write_text(text)
    print(f"{len(changes)} cell(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Imports flow one way (README's Layout): cli -> api -> (sweep, serve, report, export) ->
training -> (models, data, losses, metrics, runs, generation, ops) -> (config, registry, errors)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganforge"

# What each part of the package may not import (checked on every import statement, also the
# ones inside functions).
FORBIDDEN = {
    "models": ("ganforge.ops", "ganforge.training", "ganforge.cli"),
    "runs": ("ganforge.training", "ganforge.cli", "ganforge.generation"),
    "generation": ("ganforge.training", "ganforge.cli"),
    "metrics": ("ganforge.training", "ganforge.cli", "ganforge.generation"),
    "ops": ("ganforge.training", "ganforge.models", "ganforge.cli"),
    "data": ("ganforge.training", "ganforge.models", "ganforge.cli"),
    "training": ("ganforge.cli", "ganforge.sweep", "ganforge.serve", "ganforge.report"),
    "config": ("ganforge.training", "ganforge.cli"),
    "api": ("ganforge.cli",),
}

# The command line is a thin layer over the API: it may import nothing deeper.
CLI_MAY_IMPORT = ("ganforge", "ganforge.api", "ganforge.cli", "ganforge.errors")


def part_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


SOURCES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__main__.py")  # the entry point


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    forbidden = FORBIDDEN.get(part_of(path), ("ganforge.cli",) if part_of(path) != "cli" else ())
    wrong = [name for name in imported_modules(path)
             if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)]
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda path: path.name)
def test_the_cli_calls_only_the_api(path):
    deeper = [name for name in imported_modules(path) if name.startswith("ganforge")
              and not any(name == allowed or name.startswith("ganforge.cli.") for allowed in CLI_MAY_IMPORT)]
    assert not deeper, f"cli/{path.name} imports {deeper}"


def test_the_rule_sees_a_violation(tmp_path):
    """The checker reads imports inside functions too (a rule that cannot fail is no rule)."""
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from ganforge.training import loop\n")
    assert imported_modules(module) == ["ganforge.training"]

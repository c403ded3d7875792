"""Imports flow one way (README's Layout): every part of the package sits in a layer and may
import only parts in layers below its own (and its own modules); no two modules import each
other, directly or round a circle. Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganforge"

# Bottom first. A part imports only from lower layers: models, losses, data and ops are plain
# torch and never read a Config; the config checks names against their registries; the top
# package (ganforge/__init__) is imported by nothing but the entry point.
LAYERS = [
    ("errors", "version", "atomic", "preset_configs"),
    ("registry",),
    ("ops", "models", "losses", "data"),
    ("config",),
    ("metrics",),
    ("runs",),
    ("export", "sampling", "summary"),
    ("generation",),
    ("training",),
    ("evaluation", "report"),
    ("serve", "sweep"),
    ("api",),
    ("cli",),
    ("ganforge",),
    ("__main__",),
]
LAYER = {part: index for index, parts in enumerate(LAYERS) for part in parts}

# The command line is a thin layer over the API: it may import nothing deeper.
CLI_MAY_IMPORT = ("ganforge.api", "ganforge.cli", "ganforge.errors", "ganforge.version")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    """'ganforge.training.step' -> 'training'; the top package itself -> 'ganforge'."""
    return module.split(".")[1] if "." in module else module


def imported_modules(path: Path) -> list[str]:
    """The ganforge modules `path` imports (a `from package import name` naming a module
    counts as that module)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganforge"):
            names += [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                      else node.module for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("ganforge")]
    return list(dict.fromkeys(names))


def upward(source: str, names: list[str]) -> list[str]:
    """Those of `names` that module `source` may not import: not in a layer below its own."""
    return [name for name in names
            if part_of(name) != part_of(source) and LAYER[part_of(name)] >= LAYER[part_of(source)]]


def circles(edges: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_every_part_has_a_layer():
    unplaced = sorted({part_of(name) for name in MODULES} - set(LAYER))
    assert not unplaced, f"place {unplaced} in LAYERS"


@pytest.mark.parametrize("path", list(MODULES.values()), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_flow_down(path):
    wrong = upward(module_name(path), imported_modules(path))
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong}, which are not below it"


def test_no_module_imports_round_a_circle():
    edges = {name: [target for target in imported_modules(path) if target != name]
             for name, path in MODULES.items()}
    assert circles(edges) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda path: path.name)
def test_the_cli_calls_only_the_api(path):
    deeper = [name for name in imported_modules(path)
              if not any(name == allowed or name.startswith(allowed + ".") for allowed in CLI_MAY_IMPORT)]
    assert not deeper, f"cli/{path.name} imports {deeper}"


def test_the_rules_see_violations(tmp_path):
    """An import back up (inside a function too) and a circle are found: a rule that cannot fail
    is no rule."""
    module = PACKAGE / "models" / "dcgan.py"
    text = module.read_text() + "\n\ndef f():\n    from ganforge.training import step\n"
    copy = tmp_path / "dcgan.py"
    copy.write_text(text)
    assert upward("ganforge.models.dcgan", imported_modules(copy)) == ["ganforge.training.step"]
    assert upward("ganforge.training.step", ["ganforge.models.dcgan", "ganforge.training.ema"]) == []
    assert upward("ganforge.metrics.fid", ["ganforge.runs"]) == ["ganforge.runs"]
    assert circles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert circles({"a": ["b"], "b": []}) == []

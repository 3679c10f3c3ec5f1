"""The import graph of the packages has no cycle (``legacy/``, the reference runtime, aside).

A cycle makes import order matter and hides dependencies that point the wrong
way; one hidden inside a function only shows at run time. So every import
counts: module level, inside functions and classes, relative or absolute,
but not under ``if TYPE_CHECKING:`` (never executed). An edge goes to the
module an import names (``from pkg import name`` to ``pkg.name`` when that
is a module, else to ``pkg``'s ``__init__``); importing a submodule also
runs its parent packages, but those edges point from a package's own
modules to itself and are not dependencies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shims", "codemods", "migrate")


def _modules() -> dict[str, Path]:
    found = {}
    for package in (*PACKAGES, "legacy"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
    return name.lstrip("_") == "TYPE_CHECKING"  # also `from typing import TYPE_CHECKING as _T...`


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (i for child in node.orelse for i in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def _targets(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            out.add(sub if sub in MODULES else source)
    return {t for t in out if t in MODULES and t != module}


def _graph() -> dict[str, set[str]]:
    return {name: _targets(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycles_in(package: str) -> list[list[str]]:
    return [c for c in _cycles(_graph()) if any(m.split(".")[0] == package for m in c)]


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "shims" in graph["migrate._cli"]
    assert "migrate._runner.worker" in graph["migrate._runner.run"]  # a function-level import


def test_cycle_detection_has_teeth() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["shims", "codemods", "migrate"])
def test_no_import_cycle(package: str) -> None:
    assert _cycles_in(package) == []

"""The layout is the architecture: the import-linter contracts in pyproject hold, no module imports itself
back through others, and no module outgrows a screenful of concepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from .conftest import ROOT

PACKAGE = ROOT / "src" / "tuner"
MAX_LINES = 400


@pytest.mark.slow
def test_the_import_contracts_hold():
    done = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> list[set[str]]:
    """Tarjan's strongly connected components of the import graph restricted to ``modules``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node) & modules:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append(component)

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("tuner")  # function-level and TYPE_CHECKING imports included
    modules = {m for m in graph.modules if m.startswith("tuner")}
    cycles = [sorted(c) for c in strongly_connected(graph, modules) if len(c) > 1]
    assert cycles == []


def test_a_cycle_would_be_found():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="c", imported="a")
    assert [sorted(c) for c in strongly_connected(graph, {"a", "b", "c"}) if len(c) > 1] == [["a", "b"]]


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_stage_is_a_subpackage_with_a_docstring():
    stages = ["config", "search", "models", "training", "data", "study", "tracking", "submission", "runner", "cli"]
    for stage in stages:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), stage
        assert init.read_text().lstrip().startswith('"""'), f"{stage}/__init__.py says what the stage holds"

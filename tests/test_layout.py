"""The house: imports run one way (no module imports one that imports it back), the report
and the command line load no torch, and every module stays readable in one sitting."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "memorybench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth of its code (an import
    inside a function is an arrow too); ``from pkg import mod`` points at ``pkg.mod``."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        arrows = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
                targets = subs or [base]
            else:
                continue
            arrows |= {t for t in targets if t in files and t != name}
        graph[name] = arrows
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100
    assert cycles(graph) == []


def test_a_cycle_is_found_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_low_floors_import_nothing_above_them():
    graph = import_graph()
    floors = {"memorybench.errors": set(), "memorybench.callables": set(),
              "memorybench.config": {"memorybench.errors"},
              "memorybench.cells": {"memorybench.config"}}
    for module, allowed in floors.items():
        assert graph[module] <= allowed, module
    tasks = [m for m in graph if m.startswith("memorybench.tasks")]
    assert tasks and all(not any(t.startswith(("memorybench.models", "memorybench.store",
                                               "memorybench.cells")) for t in graph[m])
                         for m in tasks)


@pytest.mark.parametrize("module", ["memorybench.report.pages", "memorybench.cli",
                                    "memorybench.horizon.rules", "memorybench.store"])
def test_the_report_the_command_line_and_the_rules_load_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_every_module_reads_in_one_sitting():
    sizes = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 50
    assert {str(p.relative_to(PACKAGE)): n for p, n in sizes.items() if n > 350} == {}

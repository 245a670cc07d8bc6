"""The front end's modules import each other one way: no circle, not even through a function-local import."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import ncdl

ROOT = Path(ncdl.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> nx.DiGraph:
    """Module -> module it imports, for every module of ``package``, counting every import statement
    (top level, function-local and under ``TYPE_CHECKING``)."""
    folder = ROOT.parent.joinpath(*package.split("."))
    modules = {_module(p): p for p in folder.rglob("*.py")}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    g.add_edge(name, target)
    return g


@pytest.mark.parametrize("package", ["ncdl.dsl", "ncdl.ir"])
def test_no_import_circle(package: str) -> None:
    g = import_graph(package)
    assert g.number_of_edges() > 0
    assert list(nx.simple_cycles(g)) == []

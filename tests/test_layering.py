"""Dependencies point down: each stage imports only the stages below it, and no ncdl module imports itself
back through others.

The layers, bottom up: ``ir`` (with ``files``, ``version``) · ``dsl`` · ``compiler`` · ``runtime`` ·
the package face (``ncdl/__init__.py``, ``program.py``, ``cli.py``). Imports are read from the source
with ``ast`` (those inside functions too), so an import that only runs on some paths still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import ncdl

ROOT = Path(ncdl.__file__).parent
FACE = {"ncdl", "ncdl.program", "ncdl.cli"}


def _module_name(path: Path) -> str:
    parts = ["ncdl", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _target(name: str) -> str:
    """The ncdl module an imported dotted name refers to (the longest prefix that is a module)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def imports(module: str) -> set[str]:
    """The ncdl modules ``module`` imports anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_target(n) for n in names if n == "ncdl" or n.startswith("ncdl.")}
    found.discard(module)
    return found


def _layer(module: str) -> str:
    if module in FACE:
        return "face"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "face"


#: layer -> the layers it must not import.
FORBIDDEN = {
    "ir": {"dsl", "compiler", "runtime", "face"},
    "dsl": {"compiler", "runtime", "face"},
    "compiler": {"dsl", "runtime", "face"},
    "runtime": {"compiler", "dsl", "face"},
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_stage_imports_nothing_above_it(layer: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module in MODULES
        if _layer(module) == layer
        for target in imports(module)
        if _layer(target) in FORBIDDEN[layer]
    )
    assert wrong == []


def test_the_import_reader_sees_imports_inside_functions_and_resolves_submodules() -> None:
    # program.py imports the backends inside its methods; compiler/fx/lower.py imports a sibling module by name
    assert {"ncdl.compiler.fx", "ncdl.compiler.onnx"} <= imports("ncdl.program")
    assert "ncdl.compiler.fx.runtime" in imports("ncdl.compiler.fx.lower")


def import_cycles() -> list[list[str]]:
    """Every elementary cycle of ncdl modules importing each other (empty when the imports form a DAG)."""
    graph = nx.DiGraph((m, t) for m in MODULES for t in imports(m))
    return sorted(sorted(cycle) for cycle in nx.simple_cycles(graph))


def test_no_import_cycle() -> None:
    assert import_cycles() == []

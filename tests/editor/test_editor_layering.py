"""The editor tools (ncdl.lsp, ncdl.serve, ncdl.highlight) sit above the package face:
nothing else in ncdl imports them but the CLI, and only the language server needs pygls."""

from __future__ import annotations

import ast

from test_layering import MODULES, imports

EDITOR = ("ncdl.lsp", "ncdl.serve", "ncdl.highlight")


def _is_editor(module: str) -> bool:
    return module.startswith(EDITOR)


def test_only_the_cli_imports_the_editor_tools() -> None:
    wrong = sorted(
        f"{m} imports {t}"
        for m in MODULES
        if not _is_editor(m) and m != "ncdl.cli"
        for t in imports(m)
        if _is_editor(t)
    )
    assert wrong == []


def test_only_the_language_server_needs_pygls() -> None:
    users = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("pygls", "lsprotocol") for n in names):
                users.add(module)
    assert users == {"ncdl.lsp.server"}
    assert not any(
        t.startswith("ncdl.lsp") for m in MODULES if m.startswith(("ncdl.serve", "ncdl.highlight")) for t in imports(m)
    )

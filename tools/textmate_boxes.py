"""Bring the TextMate grammar's list of primitive boxes in step with the front end.

Usage::

    .venv/bin/python tools/textmate_boxes.py

``editors/vscode/syntaxes/ncdl.tmLanguage.json`` is static JSON (editors read
it as it is), so its ``support.function.builtin.ncdl`` pattern lists the box
names. ``tests/editor/test_highlight.py`` fails when a box is added to
``ncdl.dsl.primitives.PRIMITIVES`` and not to the grammar; this script
rewrites that one pattern. (The Pygments lexer reads ``PRIMITIVES`` itself.)
"""

from __future__ import annotations

import json
from pathlib import Path

from ncdl.dsl.primitives import PRIMITIVES

GRAMMAR = Path(__file__).resolve().parent.parent / "editors" / "vscode" / "syntaxes" / "ncdl.tmLanguage.json"
SCOPE = "support.function.builtin.ncdl"


def main() -> None:
    """Rewrite the builtin-box pattern of the grammar from ``PRIMITIVES``."""
    grammar = json.loads(GRAMMAR.read_text())
    (rule,) = [p for p in grammar["repository"]["expression"]["patterns"] if p.get("name") == SCOPE]
    rule["match"] = "\\b(" + "|".join(sorted(PRIMITIVES)) + ")\\b"
    GRAMMAR.write_text(json.dumps(grammar, indent=2) + "\n")
    print(f"wrote {GRAMMAR} ({len(PRIMITIVES)} boxes)")


if __name__ == "__main__":
    main()

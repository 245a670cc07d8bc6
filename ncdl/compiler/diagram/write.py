"""Write a diagram to disk: ``.svg``, ``.png``, ``.pdf`` or ``.dot``, atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import graphviz

from ncdl.files import write_atomic

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
INSTALL_HINT = "install Graphviz to render images (`apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`)"


def write_diagram(dot: graphviz.Digraph, path: str) -> str | None:
    """Write ``dot`` to ``path``, the format chosen by the extension.

    Returns None on success. When an image format is asked for and the
    Graphviz ``dot`` program is missing, writes the DOT text to ``path`` with
    a ``.dot`` suffix instead and returns a message saying so and how to
    install Graphviz. Raises ValueError for an extension it cannot write.
    """
    target = Path(path)
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write a diagram to {path!r}: use a .svg, .png, .pdf or .dot file name")
    source = dot.source.encode("utf-8")
    if fmt == "dot":
        write_atomic(target, source)
        return None
    data = None
    if shutil.which("dot") is not None:
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            data = None
    if data is None:
        fallback = target.with_suffix(".dot")
        write_atomic(fallback, source)
        return f"the Graphviz `dot` program was not found, so {path} was not drawn; wrote the DOT text to {fallback}; {INSTALL_HINT}"
    write_atomic(target, data)
    return None

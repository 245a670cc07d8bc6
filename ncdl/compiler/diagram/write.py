"""Write a diagram to disk: ``.svg``, ``.png``, ``.pdf`` or ``.dot``, atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import graphviz

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
INSTALL_HINT = "install Graphviz to render images (`apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`)"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


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
        _atomic_write(target, source)
        return None
    data = None
    if shutil.which("dot") is not None:
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            data = None
    if data is None:
        fallback = target.with_suffix(".dot")
        _atomic_write(fallback, source)
        return f"the Graphviz `dot` program was not found, so {path} was not drawn; wrote the DOT text to {fallback}; {INSTALL_HINT}"
    _atomic_write(target, data)
    return None

"""One diagram as SVG text, for the editor views (the preview page and the
language server's ``ncdl/diagram`` request).

It is the same drawing as ``ncdl render``: the renderer of
:mod:`ncdl.compiler.diagram`, errors drawn in red on a graph cut short by a
mistake. Graphviz's ``dot`` program makes the SVG.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable

import networkx as nx

from ncdl.compiler.diagram.write import INSTALL_HINT


class DiagramError(Exception):
    """The diagram cannot be drawn (a bad depth or path, no Graphviz); one line."""


def diagram_svg(g: nx.MultiDiGraph, depth: int | str | None = "auto", expand: Iterable[str] = ()) -> str:
    """The SVG of ``g``; ``depth`` is a number, ``None`` (all open) or ``"auto"``
    (what fits one page, as ``ncdl render`` does by default)."""
    import warnings

    import graphviz

    from ncdl.compiler.diagram import PageWarning, render

    if shutil.which("dot") is None:
        raise DiagramError(f"the Graphviz `dot` program was not found; {INSTALL_HINT}")
    try:
        with warnings.catch_warnings():  # a view larger than a page is what the editor asked for
            warnings.simplefilter("ignore", PageWarning)
            dot = render(g, depth=depth, expand=tuple(expand))
        return dot.pipe(format="svg").decode("utf-8")
    except ValueError as err:
        raise DiagramError(str(err)) from None
    except graphviz.ExecutableNotFound:
        raise DiagramError(f"the Graphviz `dot` program was not found; {INSTALL_HINT}") from None

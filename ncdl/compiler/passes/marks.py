"""The graph a marking pass returns: its input until the pass marks a node, then a copy.

Every pass only adds or removes marks on nodes (:data:`ncdl.ir.ops.MARKS`),
and most find nothing to mark in most models; copying a graph of 200,000
boxes for nothing cost a second each, five passes in turn, and left each
copy to the garbage collector (the copy holds reference cycles).

Example::

    >>> out = Marks(g)
    >>> out.nodes[node]["inplace"] = True   # the first write copies g
    >>> out.graph() is g
    False
"""

from __future__ import annotations

import networkx as nx
from networkx.classes.reportviews import NodeView


class Marks:
    """``g``, copied the first time a node is reached through :attr:`nodes`."""

    def __init__(self, g: nx.MultiDiGraph) -> None:
        self._g = g
        self._copy: nx.MultiDiGraph | None = None

    @property
    def nodes(self) -> NodeView:
        """The copy's nodes, to mark (the copy is made on first use)."""
        if self._copy is None:
            self._copy = self._g.copy()
        return self._copy.nodes

    def graph(self) -> nx.MultiDiGraph:
        """The marked copy, or ``g`` itself when nothing was marked."""
        return self._g if self._copy is None else self._copy

"""Colours and sizes shared by every part of the diagram.

Each axis gets one colour from a fixed palette, by its position in the axis
table, so that the same model always draws the same wire in the same colour.
Red is kept out of the palette: it marks the wires of a type error.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

#: Wire colours, given in axis-table order to the axes a view shows (so two visible axes
#: never share one while at most this many are visible; past that, wire labels tell them apart).
PALETTE: tuple[str, ...] = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#393b79",  # navy
    "#e7ba52",  # gold
    "#7f7f7f",  # grey
    "#637939",  # moss
    "#843c39",  # maroon
    "#5254a3",  # indigo
    "#8ca252",  # sage
    "#bd9e39",  # ochre
    "#ad494a",  # brick
    "#a55194",  # plum
    "#6b6ecf",  # periwinkle
    "#3182bd",  # steel
    "#31a354",  # emerald
    "#756bb1",  # lavender
    "#636363",  # charcoal
    "#e6550d",  # rust
    "#6baed6",  # sky
    "#fd8d3c",  # tangerine
    "#74c476",  # mint
    "#9e9ac8",  # wisteria
    "#b5cf6b",  # lime
    "#e7969c",  # rose
    "#de9ed6",  # orchid
    "#969696",  # silver
)

#: Colour of an axis the axis table does not know (only in a graph cut short by an error).
UNKNOWN = "#000000"
#: Colour of an error wire, its label and the error note.
ERROR = "#d62728"
#: Alpha suffix that lightens a wire passing by a box.
PASSING_ALPHA = "66"

FONT = "DejaVu Sans"
WIRE_WIDTH = "2.2"
PASSING_WIDTH = "1.4"


def axis_colours(g: nx.MultiDiGraph, visible: set[str] | None = None) -> dict[str, str]:
    """``axis name -> colour``: the palette in axis-table order, the ``visible`` axes first served.

    Visible axes (all, when None) take the palette in table order, so no two of
    them share a colour while they number at most ``len(PALETTE)``; the others
    (drawn nowhere in this view) continue the cycle.
    """
    names = list(g.graph.get("axes", {}))
    first = [n for n in names if visible is None or n in visible]
    rest = [n for n in names if n not in first]
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(first + rest)}


def size_text(axis: Any) -> str:
    """An axis size for the legend: ``128``, ``model/4``, ``seq ≤ 256 (free)``."""
    text = str(axis.size)
    if axis.bound is not None:
        text += f" ≤ {axis.bound}"
    if axis.fixed is None and {str(axis.size)} == axis.size.symbols():
        text += " (free)"
    return text

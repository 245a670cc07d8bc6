"""Does a diagram fit a page? Measured from Graphviz's own layout.

A diagram *fits a page* when, scaled to a 6.5-inch column (the text width of
a US-letter paper with 1-inch margins), its smallest text is still at least
7 pt, and its aspect ratio is at most 3:1 either way. Both numbers come from
``dot -Tjson``: the bounding box ``bb`` (points) and the font size of every
text the layout draws (the ``F`` operations of its ``_ldraw_`` lists), so
what is measured is what is printed.

Example:
    >>> page = measure(render(g))                      # doctest: +SKIP
    >>> page.fits, round(page.aspect, 1), round(page.smallest_text, 1)
    (True, 1.8, 8.1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import graphviz

#: The page the default view must fit: column width (points), smallest text (points), widest aspect.
COLUMN_PT = 6.5 * 72
MIN_TEXT_PT = 7.0
MAX_ASPECT = 3.0


@dataclass(frozen=True)
class Page:
    """The measured size of one laid-out diagram."""

    width: float  # points
    height: float  # points
    font: float  # the smallest font size drawn, points, before scaling

    @property
    def aspect(self) -> float:
        """Long side over short side (1 for a square)."""
        short = max(min(self.width, self.height), 1.0)
        return max(self.width, self.height) / short

    @property
    def scale(self) -> float:
        """The factor that fits the diagram to the column (never enlarges)."""
        return min(1.0, COLUMN_PT / max(self.width, 1.0))

    @property
    def smallest_text(self) -> float:
        """The smallest text, in points, once the diagram is fitted to the column."""
        return self.font * self.scale

    @property
    def fits(self) -> bool:
        """True when the diagram keeps its text readable on one page (see the module doc)."""
        return self.aspect <= MAX_ASPECT and self.smallest_text >= MIN_TEXT_PT

    def describe(self) -> str:
        """``7.9 × 3.1 in, aspect 2.5:1, smallest text 6.1 pt at 6.5 in``."""
        return (
            f"{self.width / 72:.1f} × {self.height / 72:.1f} in, aspect {self.aspect:.1f}:1, "
            f"smallest text {self.smallest_text:.1f} pt at 6.5 in"
        )


def layout(dot: graphviz.Digraph) -> dict[str, Any]:
    """Graphviz's layout of ``dot`` as the ``-Tjson`` object."""
    return json.loads(dot.pipe(format="json").decode("utf-8"))


def measure(dot: graphviz.Digraph) -> Page:
    """Lay ``dot`` out and measure it (see the module doc)."""
    return measure_layout(layout(dot))


def measure_layout(data: dict[str, Any]) -> Page:
    """Measure a ``-Tjson`` layout: its bounding box and the smallest font it draws."""
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    drawn = fonts(data)
    return Page(x1 - x0, y1 - y0, min(drawn) if drawn else 14.0)


def fonts(data: dict[str, Any]) -> list[float]:
    """The size of every font a ``-Tjson`` layout draws text in."""
    return [float(op["size"]) for op in _draw_ops(data) if op.get("op") == "F"]


def _draw_ops(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every text-drawing operation of the graph, its clusters, nodes and edges."""
    ops: list[dict[str, Any]] = []
    for item in [data, *data.get("objects", []), *data.get("edges", [])]:
        for key in ("_ldraw_", "_hldraw_", "_tldraw_", "_hdraw_", "_tdraw_"):
            ops += item.get(key, [])
    return ops

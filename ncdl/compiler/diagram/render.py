"""Build the ``graphviz.Digraph`` of an IR graph (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

import graphviz
import networkx as nx

from ncdl.compiler.diagram import labels
from ncdl.compiler.diagram.fold import BOX_PREFIX, Frame, Plan, plan
from ncdl.compiler.diagram.style import (
    ERROR,
    FONT,
    PASSING_ALPHA,
    PASSING_WIDTH,
    UNKNOWN,
    WIRE_WIDTH,
    axis_colours,
)
from ncdl.compiler.diagram.wires import named_axes
from ncdl.ir import topological

#: The side of a box that broadcast wires touch, for each reading direction.
SIDES = {"LR": "n", "RL": "n", "TB": "w", "BT": "w"}
LEGEND = "legend"
ERROR_NOTE = "error"


class _Cluster:
    """A cluster under construction: its frame, nested clusters and node lines."""

    def __init__(self, frame: Frame | None) -> None:
        self.frame = frame
        self.children: dict[str, _Cluster] = {}
        self.nodes: list[tuple[str, str, dict[str, str]]] = []

    def at(self, chain: tuple[Frame, ...]) -> _Cluster:
        node = self
        for f in chain:
            node = node.children.setdefault(f.path, _Cluster(f))
        return node


def render(
    g: nx.MultiDiGraph, depth: int | None = None, expand: Iterable[str] = (), rankdir: str = "LR"
) -> graphviz.Digraph:
    """The neural circuit diagram of an IR graph.

    Args:
        g: an IR graph (possibly cut short by an error: ``g.graph["error"]``).
        depth: draw circuits nested deeper than this as single boxes (None: all open).
        expand: instance paths to open regardless of ``depth``; a ``repeat``'s
            path here draws every iteration instead of folding to iteration 0.
        rankdir: Graphviz reading direction; ``"LR"`` puts inputs left.

    Returns:
        A ``graphviz.Digraph``; in Jupyter it displays itself.

    Example:
        >>> dot = render(program.graph(), depth=1, expand=("blocks.0.attn",))
        >>> write_diagram(dot, "gpt.svg")
    """
    if rankdir not in SIDES:
        raise ValueError(f"rankdir must be one of {', '.join(SIDES)}, not {rankdir!r}")
    colours = axis_colours(g)
    layout = plan(g, depth, expand)
    dot = graphviz.Digraph(
        name=str(g.graph.get("model") or "model"),
        graph_attr={
            "rankdir": rankdir,
            "fontname": FONT,
            "nodesep": "0.25",
            "ranksep": "0.45",
            "newrank": "true",
            "labeljust": "l",
        },
        node_attr={"fontname": FONT, "fontsize": "11", "margin": "0.1,0.04", "height": "0.3"},
        edge_attr={"arrowsize": "0.6", "fontname": FONT, "fontsize": "10"},
    )
    _nodes(dot, g, layout, colours)
    error_heads = _edges(dot, g, layout, colours, SIDES[rankdir])
    dot.node(LEGEND, labels.legend_label(g, colours), shape="plain")
    with dot.subgraph() as left:
        left.attr(rank="source")
        left.node(LEGEND)
        for n in g.graph.get("inputs", []):
            if layout.unit.get(n) == n and not layout.shown.get(n):
                left.node(n)
    error = g.graph.get("error")
    if error:
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        dot.node(ERROR_NOTE, labels.error_label(message), shape="note", color=ERROR, penwidth="2")
        for head in error_heads:
            dot.edge(ERROR_NOTE, head, style="dotted", color=ERROR, arrowhead="none", constraint="false")
    return dot


def _nodes(dot: graphviz.Digraph, g: nx.MultiDiGraph, layout: Plan, colours: dict[str, str]) -> None:
    root = _Cluster(None)
    for n, chain in layout.shown.items():
        data = g.nodes[n]
        label, attrs = labels.node_label(data, colours)
        attrs["tooltip"] = _tooltip(data)
        root.at(chain).nodes.append((n, label, attrs))
    for box_id, box in layout.boxes.items():
        label, attrs = labels.box_label(box)
        attrs["tooltip"] = f"{box.circuit} {box.frame.path}"
        root.at(box.clusters).nodes.append((box_id, label, attrs))
    _emit(dot, root, layout)


def _emit(graph: graphviz.Digraph, cluster: _Cluster, layout: Plan) -> None:
    for node_id, label, attrs in cluster.nodes:
        graph.node(node_id, label, **attrs)
    for path, child in cluster.children.items():
        sub = graphviz.Digraph(name="cluster " + path)
        f = child.frame
        assert f is not None
        folded = f.is_repeat and f.path not in layout.unfolded
        sub.attr(label=labels.cluster_label(f, layout.counts, layout.bodies, folded), fontsize="11")
        if folded:
            sub.attr(style="rounded,bold", color="#444444", penwidth="2", bgcolor="#fafafa")
        elif f.repeat is not None:
            sub.attr(style="rounded,dashed", color="#999999")
        else:
            sub.attr(style="rounded", color="#999999")
        _emit(sub, child, layout)
        graph.subgraph(sub)


def _tooltip(data: dict[str, Any]) -> str:
    where = f" · {data['scope']}" if data.get("scope") else ""
    return f"{data.get('name', '')}: {data.get('op', '')} [{', '.join(data.get('axes', []))}]{where}"


def _named(g: nx.MultiDiGraph, layout: Plan, unit: str) -> set[str]:
    if unit.startswith(BOX_PREFIX):
        return layout.boxes[unit].named
    return named_axes(g.nodes[unit])


def _edges(dot: graphviz.Digraph, g: nx.MultiDiGraph, layout: Plan, colours: dict[str, str], side: str) -> list[str]:
    """Draw every wire; return the heads of error wires."""
    seen: set[tuple] = set()
    error_heads: list[str] = []
    named_cache: dict[str, set[str]] = {}

    def named(unit: str) -> set[str]:
        if unit not in named_cache:
            named_cache[unit] = _named(g, layout, unit)
        return named_cache[unit]

    for v in topological(g):
        for u, _, data in sorted(g.in_edges(v, data=True), key=lambda e: e[2].get("port", 0)):
            tail, head = layout.unit[u], layout.unit[v]
            if tail == head or layout.crosses_iterations(u, v):
                continue
            wire_axes = list(data.get("axes") or [])
            error = data.get("error")
            port = None if head.startswith(BOX_PREFIX) else data.get("port")
            key = (tail, head, tuple(wire_axes), port, error)
            if key in seen:
                continue
            seen.add(key)
            if error:
                dot.edge(
                    tail, head, label=escape(str(error)), color=ERROR, fontcolor=ERROR, penwidth="3", tooltip=str(error)
                )
                error_heads.append(head)
            else:
                _wire(dot, tail, head, wire_axes, named(head), colours, side)
    return error_heads


def _wire(
    dot: graphviz.Digraph,
    tail: str,
    head: str,
    wire_axes: list[str],
    head_named: set[str],
    colours: dict[str, str],
    side: str,
) -> None:
    """One tensor: a solid multi-colour edge for the axes the head box acts on,
    a faint dashed one, over the tops of the boxes, for the axes passing by."""
    if not wire_axes:
        dot.edge(tail, head, color="#000000", penwidth="1", tooltip="scalar")
        return
    groups: dict[bool, list[str]] = {}
    for a in wire_axes:
        groups.setdefault(a in head_named, []).append(a)
    for into_box, group in sorted(groups.items(), reverse=True):
        suffix = "" if into_box else PASSING_ALPHA
        attrs = {
            "color": ":".join(colours.get(a, UNKNOWN) + suffix for a in group),
            "tooltip": ", ".join(group),
        }
        if into_box:
            attrs["penwidth"] = WIRE_WIDTH
        else:
            attrs.update(style="dashed", penwidth=PASSING_WIDTH, arrowhead="none", headport=side)
        dot.edge(tail, head, **attrs)

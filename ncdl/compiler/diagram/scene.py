"""Blocks laid out one by one by ``dot``, then stacked into one page.

``dot`` lays a whole graph out on shared rank columns, so rows or panels
placed side by side in one ``dot`` graph widen one another (each column is
as wide as its widest member over all rows). So each *block* — one row of
the model or of a definition panel, the legend, an error note — is laid out
by ``dot`` on its own (:func:`lay_out`), and :func:`compose` stacks the
laid-out blocks top to bottom, left-aligned, writing every node's ``pos``,
every edge's spline and every cluster's ``bb`` into one graph. That graph is
drawn by Graphviz with the layout kept (``neato -n2``, which
:class:`Diagram` asks for by itself), so Graphviz is still the only layout
engine: ``dot`` places and routes, the stacking only translates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import graphviz

from ncdl.compiler.diagram.xlabels import settle

#: Vertical space between stacked blocks, points.
GAP = 8.0


@dataclass
class Block:
    """One thing ``dot`` lays out: nodes (each in a chain of clusters) and edges."""

    nodes: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = field(default_factory=list)
    clusters: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    graph: dict[str, str] = field(default_factory=dict)  # graph attributes over the defaults (rankdir)
    ranks: list[list[str]] = field(default_factory=list)  # node ids that share a rank, group by group

    def node(self, node_id: str, label: str, attrs: dict[str, str], chain: tuple[str, ...] = ()) -> None:
        """Add a node inside the clusters named by ``chain`` (outermost first)."""
        self.nodes.append((node_id, label, attrs, chain))

    def edge(self, tail: str, head: str, attrs: dict[str, str]) -> None:
        """Add an edge; it gets an ``id`` so that its route can be found after layout."""
        self.edges.append((tail, head, dict(attrs)))


@dataclass
class Placed:
    """A block with its ``dot -Tjson`` layout."""

    block: Block
    layout: dict[str, Any]

    @property
    def size(self) -> tuple[float, float]:
        """Width and height, points."""
        x0, y0, x1, y1 = (float(v) for v in self.layout["bb"].split(","))
        return x1 - x0, y1 - y0


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose nodes and edges are already placed: drawn with ``neato -n2``."""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - graphviz's own docstring applies
        kwargs.setdefault("engine", "neato")
        kwargs.setdefault("neato_no_op", 2)
        return super().pipe(*args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs.setdefault("engine", "neato")
        kwargs.setdefault("neato_no_op", 2)
        return super().render(*args, **kwargs)


def _emit(
    graph: graphviz.Digraph,
    block: Block,
    place: dict[str, dict[str, str]] | None = None,
    prefix: str = "",
) -> None:
    """Write a block's statements into ``graph``: clusters nested by chain, then edges.

    ``place`` adds attributes (positions) by node id, cluster name and edge id.
    """
    place = place or {}
    tree: dict[str, Any] = {"nodes": [], "children": {}}
    for node_id, label, attrs, chain in block.nodes:
        at = tree
        for name in chain:
            at = at["children"].setdefault(name, {"nodes": [], "children": {}})
        at["nodes"].append((node_id, label, {**attrs, **place.get(node_id, {})}))

    def write(target: graphviz.Digraph, at: dict[str, Any]) -> None:
        for node_id, label, attrs in at["nodes"]:
            target.node(node_id, label, **attrs)
        for name, child in at["children"].items():
            sub = graphviz.Digraph(name=name)
            sub.attr(**{**block.clusters.get(name, {}), **place.get(name, {})})
            write(sub, child)
            target.subgraph(sub)

    write(graph, tree)
    for group in block.ranks:
        same = graphviz.Digraph()
        same.attr(rank="same")
        for node_id in group:
            same.node(node_id)
        graph.subgraph(same)
    for i, (tail, head, attrs) in enumerate(block.edges):
        edge_id = f"{prefix}e{i}"
        graph.edge(tail, head, **{**attrs, "id": edge_id, **place.get(edge_id, {})})


def lay_out(block: Block, graph_attr: dict[str, str], node_attr: dict[str, str], edge_attr: dict[str, str]) -> Placed:
    """Lay one block out with ``dot``."""
    graph_attr = {**graph_attr, **block.graph}
    dot = graphviz.Digraph(graph_attr=graph_attr, node_attr=node_attr, edge_attr=edge_attr)
    _emit(dot, block)
    layout = json.loads(dot.pipe(format="json").decode("utf-8"))
    stuck = settle(layout)  # outside labels moved off boxes and titles (dot places them late)
    if stuck:  # no room for these wires' labels: make them real labels, which dot makes room for
        ids = {f"e{i}" for i in range(len(block.edges))} & set(stuck)
        edges = [(t, h, _as_label(a) if f"e{i}" in ids else a) for i, (t, h, a) in enumerate(block.edges)]
        block = Block(block.nodes, block.clusters, edges, block.graph, block.ranks)
        dot = graphviz.Digraph(graph_attr=graph_attr, node_attr=node_attr, edge_attr=edge_attr)
        _emit(dot, block)
        layout = json.loads(dot.pipe(format="json").decode("utf-8"))
        settle(layout)
    return Placed(block, layout)


def _as_label(attrs: dict[str, str]) -> dict[str, str]:
    """An edge's attributes with its outside label (``xlabel``) made a real ``label``."""
    out = dict(attrs)
    out["label"] = out.pop("xlabel")
    return out


def stacked_size(blocks: list[Placed]) -> tuple[float, float]:
    """Width and height of the blocks stacked (points)."""
    sizes = [p.size for p in blocks]
    return max(w for w, _ in sizes), sum(h for _, h in sizes) + GAP * (len(sizes) - 1)


def compose(
    name: str,
    blocks: list[Placed],
    graph_attr: dict[str, str],
    node_attr: dict[str, str],
    edge_attr: dict[str, str],
    loose: list[tuple[str, str, dict[str, str]]] = (),  # type: ignore[assignment]
) -> Diagram:
    """Stack laid-out blocks top to bottom into one placed graph; ``loose`` edges are drawn straight."""
    width, height = stacked_size(blocks)
    attrs = {k: v for k, v in graph_attr.items() if k not in ("newrank", "ranksep", "nodesep")}
    diagram = Diagram(
        name=name,
        graph_attr={**attrs, "bb": f"0,0,{width:.2f},{height:.2f}", "splines": "line"},
        node_attr=node_attr,
        edge_attr=edge_attr,
    )
    top = height
    merged = Block()
    place: dict[str, dict[str, str]] = {}
    boxes: dict[str, list[float]] = {}
    label_at: dict[str, str] = {}
    for index, placed in enumerate(blocks):
        w, h = placed.size
        x0, y0, _, _ = (float(v) for v in placed.layout["bb"].split(","))
        dx, dy = -x0, top - h - y0
        top -= h + GAP
        objects = placed.layout.get("objects", [])
        for obj in objects:
            if "bb" in obj:
                bx0, by0, bx1, by1 = (float(v) for v in obj["bb"].split(","))
                box = boxes.setdefault(obj["name"], [bx0 + dx, by0 + dy, bx1 + dx, by1 + dy])
                box[:] = [min(box[0], bx0 + dx), min(box[1], by0 + dy), max(box[2], bx1 + dx), max(box[3], by1 + dy)]
                if "lp" in obj:
                    label_at.setdefault(obj["name"], _shift(obj["lp"], dx, dy))
            elif "pos" in obj:
                place[obj["name"]] = {
                    "pos": _shift(obj["pos"], dx, dy),
                    "width": obj["width"],
                    "height": obj["height"],
                }
                if "xlp" in obj:  # where dot put the node's outside label
                    place[obj["name"]]["xlp"] = _shift(obj["xlp"], dx, dy)
        prefix = f"b{index}."
        for edge in placed.layout.get("edges", []):
            moved = {"pos": _shift(edge["pos"], dx, dy)} if "pos" in edge else {}
            for key in ("lp", "xlp", "head_lp", "tail_lp"):
                if key in edge:
                    moved[key] = _shift(edge[key], dx, dy)
            place[prefix + edge["id"]] = moved
        merged.nodes += placed.block.nodes
        for cluster, attrs in placed.block.clusters.items():
            merged.clusters.setdefault(cluster, attrs)
        start = len(merged.edges)
        for i, (tail, head, attrs) in enumerate(placed.block.edges):
            merged.edges.append((tail, head, attrs))
            place[f"me{start + i}"] = place.pop(prefix + f"e{i}", {})  # the id _emit gives it
    for cluster, (bx0, by0, bx1, by1) in boxes.items():
        place[cluster] = {"bb": f"{bx0:.2f},{by0:.2f},{bx1:.2f},{by1:.2f}"}
        if cluster in label_at:
            place[cluster]["lp"] = label_at[cluster]
    _emit(diagram, merged, place, prefix="m")
    # Graphviz recomputes the bounding box from nodes, edges and clusters only, not outside labels;
    # two invisible corner points keep it the stacked size, so that no moved label is cut off.
    for corner, (x, y) in (("corner 0", (0.0, 0.0)), ("corner 1", (width, height))):
        diagram.node(corner, "", shape="point", style="invis", width="0", height="0", pos=f"{x:.2f},{y:.2f}")
    for tail, head, attrs in loose:
        diagram.edge(tail, head, **attrs)
    return diagram


def _shift(pos: str, dx: float, dy: float) -> str:
    """Translate a Graphviz point list (``e,x,y s,x,y x,y …``) by (dx, dy)."""
    out = []
    for part in pos.split():
        bits = part.split(",")
        if bits[0] in ("e", "s"):
            out.append(f"{bits[0]},{float(bits[1]) + dx:.2f},{float(bits[2]) + dy:.2f}")
        else:
            out.append(f"{float(bits[0]) + dx:.2f},{float(bits[1]) + dy:.2f}")
    return " ".join(out)

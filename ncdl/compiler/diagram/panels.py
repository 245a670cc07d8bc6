"""Definition panels: each circuit drawn once, as the paper does.

The paper keeps a model on one page by drawing every circuit once, as its
own panel ``Name(params) = …``, and using it as a box elsewhere. Here a
panel is the IR of one instance of the circuit (the first one drawn as a
box), cut out of the model's graph by :func:`instance_graph`:

* its nodes are the nodes inside the instance, with the frames around the
  instance removed (so the circuit's own nested circuits are level 1);
* every wire that enters the instance starts at a new ``input`` port named
  after the value it carries, and every wire that leaves ends at an
  ``output`` port, so the panel reads like the circuit's signature.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ncdl.ir import topological


def instance_graph(g: nx.MultiDiGraph, path: str) -> nx.MultiDiGraph:
    """The IR of the circuit instance (or repeat) at ``path`` as a stand-alone graph."""
    inside = [n for n in topological(g) if _depth_of(g.nodes[n], path) is not None]
    members = set(inside)
    sub = nx.MultiDiGraph()
    sub.graph.update({k: v for k, v in g.graph.items() if k not in ("inputs", "outputs", "error")})
    sub.graph["inputs"], sub.graph["outputs"] = [], []
    ports: dict[str, str] = {}
    for n in inside:
        data = dict(g.nodes[n])
        cut = _depth_of(data, path)
        data["frames"] = list(data.get("frames") or [])[cut:]
        for u, _, edge in g.in_edges(n, data=True):
            if u in members:
                continue
            if u not in ports:
                ports[u] = _port(sub, "input", f"in {u}", g.nodes[u])
                sub.graph["inputs"].append(ports[u])
            sub.add_edge(ports[u], n, **edge)
        sub.add_node(n, **data)
    for n in inside:
        for u, v, edge in g.out_edges(n, data=True):
            if v in members:
                sub.add_edge(u, v, **edge)
    for n in inside:
        if any(v not in members for v in g.successors(n)):
            out = _port(sub, "output", f"out {n}", g.nodes[n])
            sub.graph["outputs"].append(out)
            sub.add_edge(n, out, port=0, axes=list(g.nodes[n].get("axes") or []))
    return sub


def _depth_of(data: dict[str, Any], path: str) -> int | None:
    """How many frames of ``data`` enclose ``path`` itself (None when outside it)."""
    frames = list(data.get("frames") or [])
    found = None
    for i, f in enumerate(frames):
        if f[0] == path:
            found = i + 1  # the last frame with that path (a repeat's iteration merges with its circuit)
    return found


def _port(sub: nx.MultiDiGraph, op: str, node_id: str, source: dict[str, Any]) -> str:
    name = ""  # the circuit's argument names are not in the IR: a panel's port shows its type
    attrs: dict[str, Any] = {"name": name}
    if op == "input":
        attrs["of"] = None
    sub.add_node(
        node_id,
        op=op,
        name=name,
        axes=list(source.get("axes") or []),
        dtype=source.get("dtype", "float32"),
        attrs=attrs,
        params=[],
        frames=[],
        scope="",
    )
    return node_id

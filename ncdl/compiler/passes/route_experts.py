"""Find mixture-of-experts boxes whose experts can run on their routed rows only, and mark them.

``moe[expert](gates, values)`` means ``sum[expert](gates * values)``. The
*region* of a ``moe`` is every node its ``values`` depend on that carries the
``expert`` axis (the experts' weights and what is computed from them). When
that region is token-wise — no node in it acts on a token axis (the gates'
axes besides ``expert``) or on ``expert`` itself, every value in it carries
all the token axes or none, and nothing outside the ``moe`` reads it — the
torch backend can compute, for each expert, only the rows whose gate is
non-zero: the ``moe`` node gets a ``fused`` mark of kind ``"moe"`` (gates,
values, region in order, token axes, expert axis) and each region node a
``fused_into`` mark. Ops are unchanged: a backend that ignores the marks
computes the dense sum, which is the same number wherever the gates are zero.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import OPS, node_inputs, topological


def route_experts(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every routable ``moe`` box marked (see module doc): a copy when anything is marked."""
    out = Marks(g)
    for node in topological(g):
        if g.nodes[node]["op"] != "moe":
            continue
        mark = match_moe(g, node)
        if mark is None:
            continue
        out.nodes[node]["fused"] = mark
        for n in mark["region"]:
            out.nodes[n]["fused_into"] = node
    return out.graph()


def match_moe(g: nx.MultiDiGraph, node: str) -> dict[str, Any] | None:
    """The ``fused`` mark of a ``moe`` node whose experts' region is token-wise, else None."""
    gates, values = node_inputs(g, node)
    expert = g.nodes[node]["attrs"]["axis"]
    tokens = [a for a in g.nodes[gates]["axes"] if a != expert]
    region = _region(g, values, expert)
    if not tokens or region is None:
        return None
    for n in region:
        data = g.nodes[n]
        if any(k in data for k in ("fused", "fused_into", "siblings")):
            return None
        carried = [a for a in tokens if a in data["axes"]]
        if carried and len(carried) != len(tokens):
            return None
        op = OPS[data["op"]]
        if op.selective and data["op"] != "param" and op.acts_on(data["attrs"], data["axes"]) & {*tokens, expert}:
            return None
        if any(dst not in region and dst != node for _, dst in g.out_edges(n)):
            return None
        for src in node_inputs(g, n):
            if src not in region and 0 < sum(a in g.nodes[src]["axes"] for a in tokens) < len(tokens):
                return None
    order = [n for n in topological(g) if n in region]
    return {"kind": "moe", "gates": gates, "values": values, "region": order, "tokens": tokens, "expert": expert}


def _region(g: nx.MultiDiGraph, values: str, expert: str) -> set[str] | None:
    """The nodes ``values`` depends on that carry ``expert`` (None when ``values`` itself does not)."""
    if expert not in g.nodes[values]["axes"]:
        return None
    region, todo = set(), [values]
    while todo:
        n = todo.pop()
        if n in region:
            continue
        region.add(n)
        todo += [src for src in node_inputs(g, n) if expert in g.nodes[src]["axes"]]
    return region

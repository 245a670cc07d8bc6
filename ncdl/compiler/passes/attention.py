"""Find scaled dot-product attention chains and mark them for fusion.

The chain, in ncdl terms::

    s = contract[head](q, k)            # [..., query, key]
    s = s / c   (or s * c; optional)
    s = causal[query, key](s)           # optional
    p = softmax[key](s)
    o = contract[key](p, v)             # [..., query, value]

When every intermediate has one consumer and the axes line up (one query,
key, head and value axis, and the same batch axes on q, k and v), the final
contract gets a ``fused`` node attribute describing the attention and each
intermediate gets ``fused_into`` (the final node's id). Ops are unchanged,
so backends that ignore the marks still compute the same thing.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ncdl.ir import node_inputs, topological


def fuse_attention(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of ``g`` with every attention chain marked (see module doc)."""
    out = g.copy()
    for node in topological(g):
        match = _match(g, node)
        if match is None:
            continue
        fused, inner = match
        out.nodes[node]["fused"] = fused
        for n in inner:
            out.nodes[n]["fused_into"] = node
    return out


def _single_use(g: nx.MultiDiGraph, node: str) -> bool:
    return g.out_degree(node) == 1


def _match(g: nx.MultiDiGraph, node: str) -> tuple[dict[str, Any], list[str]] | None:
    data = g.nodes[node]
    if data["op"] != "contract" or len(data["attrs"]["over"]) != 1:
        return None
    key = data["attrs"]["over"][0]
    p_id, v_id = node_inputs(g, node)
    p = g.nodes[p_id]
    if p["op"] != "softmax" or p["attrs"]["axis"] != key or not _single_use(g, p_id):
        return None
    inner = [p_id]
    cur = node_inputs(g, p_id)[0]
    causal_query = None
    if g.nodes[cur]["op"] == "causal":
        attrs = g.nodes[cur]["attrs"]
        if attrs["key"] != key or not _single_use(g, cur):
            return None
        causal_query = attrs["query"]
        inner.append(cur)
        cur = node_inputs(g, cur)[0]
    scale = 1.0
    cd = g.nodes[cur]
    if cd["op"] in ("mul", "div") and cd["attrs"].get("const") is not None and _single_use(g, cur):
        const = float(cd["attrs"]["const"])
        if cd["op"] == "div" and cd["attrs"].get("const_left"):
            return None
        scale = 1.0 / const if cd["op"] == "div" else const
        inner.append(cur)
        cur = node_inputs(g, cur)[0]
    sd = g.nodes[cur]
    if sd["op"] != "contract" or len(sd["attrs"]["over"]) != 1 or not _single_use(g, cur):
        return None
    inner.append(cur)
    head = sd["attrs"]["over"][0]
    q_id, k_id = node_inputs(g, cur)
    qa, ka, va = (g.nodes[n]["axes"] for n in (q_id, k_id, v_id))
    batch = [ax for ax in qa if ax in ka and ax != head]
    query = [ax for ax in qa if ax not in ka and ax != head]
    keys = [ax for ax in ka if ax not in qa and ax != head]
    value = [ax for ax in va if ax not in batch and ax != key]
    if head not in qa or head not in ka or keys != [key] or len(query) != 1 or len(value) != 1:
        return None
    if causal_query not in (None, query[0]) or set(va) != set(batch) | {key, value[0]}:
        return None
    if value[0] == query[0]:
        return None
    fused = {
        "kind": "attention",
        "q": q_id,
        "k": k_id,
        "v": v_id,
        "batch": batch,
        "query": query[0],
        "key": key,
        "head": head,
        "value": value[0],
        "scale": scale,
        "causal": causal_query is not None,
    }
    return fused, inner

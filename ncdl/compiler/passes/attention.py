"""Find scaled dot-product attention chains and mark them for fusion.

The chain, in ncdl terms::

    s = contract[head](q, k)            # [..., query, key]
    s = s / c   (or s * c; any number)  # and at most one causal[query, key],
    s = causal[query, key](s)           # in any order
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
        match = match_attention(g, node)
        if match is None:
            continue
        fused, inner = match
        out.nodes[node]["fused"] = fused
        for n in inner:
            out.nodes[n]["fused_into"] = node
    return out


def _single_use(g: nx.MultiDiGraph, node: str) -> bool:
    return g.out_degree(node) == 1


def match_attention(g: nx.MultiDiGraph, node: str) -> tuple[dict[str, Any], list[str]] | None:
    """The attention chain ending at the contract ``node``: its description
    (the ``fused`` mark) and the intermediate nodes it replaces; or None.

    Between the scores and the softmax there may be any number of constant
    scales and at most one ``causal``, in any order.
    """
    data = g.nodes[node]
    if data["op"] != "contract" or len(data["attrs"]["over"]) != 1:
        return None
    key = data["attrs"]["over"][0]
    srcs = node_inputs(g, node)
    probs_port = next((i for i, s in enumerate(srcs) if g.nodes[s]["op"] == "softmax"), None)
    if len(srcs) != 2 or probs_port is None:
        return None
    p_id, v_id = srcs[probs_port], srcs[1 - probs_port]
    if g.nodes[p_id]["attrs"]["axis"] != key or not _single_use(g, p_id) or p_id == v_id:
        return None
    inner = [p_id]
    scale, causal = 1.0, None
    cur = node_inputs(g, p_id)[0]
    while g.nodes[cur]["op"] in ("mul", "div", "causal"):
        cd = g.nodes[cur]
        if not _single_use(g, cur):
            return None
        if cd["op"] == "causal":
            if causal is not None:
                return None
            causal = cd["attrs"]
        else:
            const = cd["attrs"]["const"]
            if const is None or len(node_inputs(g, cur)) != 1 or (cd["op"] == "div" and cd["attrs"]["const_left"]):
                return None
            scale = scale / float(const) if cd["op"] == "div" else scale * float(const)
        inner.append(cur)
        cur = node_inputs(g, cur)[0]
    sd = g.nodes[cur]
    if sd["op"] != "contract" or len(sd["attrs"]["over"]) != 1 or not _single_use(g, cur):
        return None
    inner.append(cur)
    head = sd["attrs"]["over"][0]
    q_id, k_id = node_inputs(g, cur)
    if key in g.nodes[q_id]["axes"]:
        q_id, k_id = k_id, q_id
    qa, ka, va = (g.nodes[n]["axes"] for n in (q_id, k_id, v_id))
    batch = [ax for ax in qa if ax in ka and ax != head]
    query = [ax for ax in qa if ax not in ka and ax != head]
    keys = [ax for ax in ka if ax not in qa and ax != head]
    value = [ax for ax in va if ax not in batch and ax != key]
    if head not in qa or head not in ka or keys != [key] or len(query) != 1 or len(value) != 1:
        return None
    if set(va) != set(batch) | {key, value[0]} or value[0] == query[0] or query[0] == key:
        return None
    if causal is not None and (causal["query"], causal["key"]) != (query[0], key):
        return None
    if any(g.nodes[n]["dtype"] != "float32" for n in (q_id, k_id, v_id)):
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
        "causal": causal is not None,
    }
    return fused, inner

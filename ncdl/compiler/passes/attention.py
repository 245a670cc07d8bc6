"""Find scaled dot-product attention chains and mark them for fusion.

The chain, in ncdl terms::

    s = contract[head](q, k)            # [..., query, key]
    s = s / c   (or s * c; any number)  # and at most one causal[query, key], one
    s = causal[query, key](s)           # mask[...](s, m) filling -inf and one added
    s = s + bias                        # bias, in any order (a bias after the scales)
    p = softmax[key](s)
    o = contract[key](p, v)             # [..., query, value]

When every intermediate has one consumer and the axes line up (one query,
key, head and value axis, and the same batch axes on q, k and v), the final
contract gets a ``fused`` node attribute describing the attention and each
intermediate gets ``fused_into`` (the final node's id); the mask's and the
bias's producers are named in the mark (``mask``, ``bias``: node ids or None)
and stay computed by their own nodes. Grouped-query attention is q
``[..., kv_heads, group, query, head]`` against k and v ``[..., kv_heads, key,
head]``: q's extra fixed axis is the mark's ``group`` (None otherwise), the
last batch axis the key/value heads. Ops are unchanged,
so backends that ignore the marks still compute the same thing.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import node_inputs, topological


def fuse_attention(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every attention chain marked (see module doc): a copy when anything is marked."""
    out = Marks(g)
    for node in topological(g):
        match = match_attention(g, node)
        if match is None:
            continue
        fused, inner = match
        out.nodes[node]["fused"] = fused
        for n in inner:
            out.nodes[n]["fused_into"] = node
    return out.graph()


def _single_use(g: nx.MultiDiGraph, node: str) -> bool:
    return g.out_degree(node) == 1


def match_attention(g: nx.MultiDiGraph, node: str) -> tuple[dict[str, Any], list[str]] | None:
    """The attention chain ending at the contract ``node``: its description
    (the ``fused`` mark) and the intermediate nodes it replaces; or None.

    Between the scores and the softmax there may be any number of constant
    scales, at most one ``causal``, one ``mask`` (filling -inf, over the score
    axes) and one added bias (over the score axes, after every scale), in any order.
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
    scale, causal, mask, bias = 1.0, None, None, None
    cur = node_inputs(g, p_id)[0]
    while g.nodes[cur]["op"] in ("mul", "div", "causal", "mask", "add"):
        cd = g.nodes[cur]
        if not _single_use(g, cur):
            return None
        if cd["op"] == "causal":
            if causal is not None:
                return None
            causal = cd["attrs"]
        elif cd["op"] == "mask":
            if mask is not None or cd["attrs"]["value"] != float("-inf"):
                return None
            mask = node_inputs(g, cur)[1]
        elif cd["op"] == "add":
            split = _bias_split(g, cur)
            # the kernel scales q·k before adding the bias: a bias added before a scale does not fuse
            if split is None or bias is not None or scale != 1.0:
                return None
            bias, chain = split
            inner.append(cur)
            cur = chain
            continue
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
    group = None
    if len(query) == 2 and batch:
        query, group = _query_and_group(g, query, causal)
        if group is None:
            return None
    if head not in qa or head not in ka or keys != [key] or len(query) != 1 or len(value) != 1:
        return None
    if set(va) != set(batch) | {key, value[0]} or value[0] == query[0] or query[0] == key:
        return None
    if causal is not None and (causal["query"], causal["key"]) != (query[0], key):
        return None
    if any(g.nodes[n]["dtype"] != "float32" for n in (q_id, k_id, v_id)):
        return None
    scores = set(batch) | {query[0], key}
    for extra in (mask, bias):
        if extra is not None and not set(g.nodes[extra]["axes"]) <= scores:
            return None
        # under grouped queries a mask or bias may not vary over the key/value heads
        if extra is not None and group is not None and batch[-1] in g.nodes[extra]["axes"]:
            return None
    if scale <= 0:  # onnxruntime's Attention takes only a positive scale (and -inf masking needs one)
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
        "mask": mask,
        "bias": bias,
        "group": group,
    }
    return fused, inner


def _query_and_group(
    g: nx.MultiDiGraph, axes: list[str], causal: dict[str, Any] | None
) -> tuple[list[str], str | None]:
    """Of two axes only q has, which is the query and which the group of grouped-query attention (q has
    [kv heads, group, seq, head], k and v [kv heads, key, head]): the causal mask's query, else the one free axis."""
    table = g.graph["axes"]
    if causal is not None and causal["query"] in axes:
        query = causal["query"]
    else:
        free = [a for a in axes if table[a].fixed is None]
        if len(free) != 1:
            return axes, None
        query = free[0]
    group = next(a for a in axes if a != query)
    return ([query], group) if table[group].fixed is not None else (axes, None)


def _bias_split(g: nx.MultiDiGraph, node: str) -> tuple[str, str] | None:
    """``(bias, scores)`` of an ``add`` of two tensors where one input carries every axis of the sum and comes
    from the attention chain (a contract, scale or mask); None otherwise."""
    srcs = node_inputs(g, node)
    if len(srcs) != 2 or g.nodes[node]["attrs"]["const"] is not None:
        return None
    axes = set(g.nodes[node]["axes"])
    for i, src in enumerate(srcs):
        if set(g.nodes[src]["axes"]) == axes and g.nodes[src]["op"] in ("contract", "mul", "div", "causal", "mask"):
            other = srcs[1 - i]
            return (other, src) if g.nodes[other]["dtype"] == "float32" else None
    return None

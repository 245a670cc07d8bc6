"""Fusing scaled dot-product attention into ONNX ``Attention`` (opset 23).

The pattern, read from the end::

    contract[K](softmax[K](chain(contract[D](q, k))), v)

where ``chain`` is any number of constant scales (``* c``, ``/ c``) and at
most one ``causal[S, K]``, in any order, and every inner node feeds only the
next. ``q`` carries ``B + [S, D]``, ``k`` ``B + [K, D]``, ``v`` ``B + [K, Dv]``
for the same batch-like axes ``B`` (in any layouts). The match replaces the
whole chain by one ``Attention`` node: 3-D (``[batch, seq, heads * head]``)
when q, k and v come laid out as ``linear[model -> heads head]`` leaves
them, else 4-D (``[batch, heads, seq, head]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from ncdl.compiler.onnx_emit import Emitter, Value
from ncdl.ir import node_inputs


@dataclass
class AttentionMatch:
    """One matched attention: the IR nodes that feed ``Attention``."""

    q: str
    k: str
    v: str
    seq: str
    key: str
    head: str
    head_v: str
    batch: list[str]
    scale: float
    causal: bool
    inner: list[str]  # the nodes the fused op replaces (not lowered on their own)


def _only_consumer(g: nx.MultiDiGraph, node: str) -> bool:
    return g.out_degree(node) == 1


def match_attention(g: nx.MultiDiGraph, node: str) -> AttentionMatch | None:
    """The attention pattern ending at the contract ``node``, or None."""
    data = g.nodes[node]
    if data["op"] != "contract" or len(data["attrs"].get("over", [])) != 1:
        return None
    key = data["attrs"]["over"][0]
    srcs = node_inputs(g, node)
    if len(srcs) != 2:
        return None
    probs_port = next((i for i, s in enumerate(srcs) if g.nodes[s]["op"] == "softmax"), None)
    if probs_port is None:
        return None
    probs, v = srcs[probs_port], srcs[1 - probs_port]
    if g.nodes[probs]["attrs"].get("axis") != key or not _only_consumer(g, probs) or probs == v:
        return None
    inner = [probs]
    scale, causal = 1.0, None
    cur = node_inputs(g, probs)[0]
    while g.nodes[cur]["op"] in ("mul", "div", "causal"):
        cdata = g.nodes[cur]
        if not _only_consumer(g, cur):
            return None
        if cdata["op"] == "causal":
            if causal is not None:
                return None
            causal = cdata["attrs"]
        else:
            const = cdata["attrs"].get("const")
            if const is None or len(node_inputs(g, cur)) != 1:
                return None
            if cdata["op"] == "div":
                if cdata["attrs"].get("const_left"):
                    return None
                scale /= float(const)
            else:
                scale *= float(const)
        inner.append(cur)
        cur = node_inputs(g, cur)[0]
    scores = g.nodes[cur]
    if scores["op"] != "contract" or len(scores["attrs"].get("over", [])) != 1 or not _only_consumer(g, cur):
        return None
    inner.append(cur)
    head = scores["attrs"]["over"][0]
    a, b = node_inputs(g, cur)
    if key in g.nodes[a]["axes"]:
        a, b = b, a
    q_axes, k_axes, v_axes = (g.nodes[n]["axes"] for n in (a, b, v))
    batch = [ax for ax in q_axes if ax not in (head,) and ax in k_axes]
    seq = [ax for ax in q_axes if ax not in batch and ax != head]
    v_rest = [ax for ax in v_axes if ax not in batch and ax != key]
    if (
        len(seq) != 1
        or head not in q_axes
        or head not in k_axes
        or set(k_axes) != set(batch) | {key, head}
        or set(v_axes) != set(batch) | {key} | set(v_rest)
        or len(v_rest) != 1
        or seq[0] == key
    ):
        return None
    if causal is not None and (causal.get("query"), causal.get("key")) != (seq[0], key):
        return None
    if any(g.nodes[n]["dtype"] != "float32" for n in (a, b, v)):
        return None
    return AttentionMatch(a, b, v, seq[0], key, head, v_rest[0], batch, scale, causal is not None, inner)


def find_attention(g: nx.MultiDiGraph, order: list[str]) -> dict[str, AttentionMatch]:
    """Every fusable attention, keyed by its final contract node."""
    found = {}
    for node in order:
        match = match_attention(g, node)
        if match is not None:
            found[node] = match
    return found


def _packed(e: Emitter, q: Value, k: Value, v: Value, m: AttentionMatch) -> tuple[list[str], list[str], int] | None:
    """``(outer, inner, heads)`` when q, k, v are laid out ``[*outer, seq, *inner, head]``.

    That layout (what ``linear[model -> heads head]`` produces) feeds the 3-D
    form of Attention, ``[batch, seq, heads * head]``, with a free reshape
    instead of transposes.
    """
    if q.axes[-1] != m.head or k.axes[-1] != m.head or v.axes[-1] != m.head_v:
        return None
    pos = q.axes.index(m.seq)
    outer, inner = list(q.axes[:pos]), list(q.axes[pos + 1 : -1])
    if list(k.axes) != outer + [m.key] + inner + [m.head] or list(v.axes) != outer + [m.key] + inner + [m.head_v]:
        return None
    sizes = [e.axes[a].fixed for a in inner + [m.head, m.head_v]]
    if any(size is None for size in sizes):
        return None
    heads = 1
    for a in inner:
        heads *= e.axes[a].fixed
    return outer, inner, heads


def _heads_layout(e: Emitter, x: Value, batch: list[str], rows: str, cols: str) -> Value:
    """``x`` as ``[b, h, rows, cols]`` for Attention (batch axes folded into two dims)."""
    x = e.permute(x, batch + [rows, cols])
    if len(batch) < 2:
        missing = 2 - len(batch)
        name = e.op("Unsqueeze", [x.name, e.ints(list(range(missing)))], "u")
        return Value(name, ("<1>",) * missing + x.axes, x.dtype)
    n_dim, n_label = e.group(batch[:-1])
    return e.reshape(x, [n_dim, batch[-1], rows, cols], [n_label, batch[-1], rows, cols])


def lower_attention(e: Emitter, data: dict[str, Any], match: AttentionMatch) -> Value:
    """One ``Attention`` node for a matched pattern (3-D when the layout allows, else 4-D)."""
    q, k, v = (e.values[n] for n in (match.q, match.k, match.v))
    attrs = {"is_causal": int(match.causal), "scale": float(match.scale)}
    hint = data.get("name") or "attention"
    packed = _packed(e, q, k, v, match)
    if packed is not None:
        outer, inner, heads = packed
        n_dim, n_label = e.group(outer)
        (qk_dim, qk_label), (v_dim, v_label) = e.group(inner + [match.head]), e.group(inner + [match.head_v])
        q3 = e.reshape(q, [n_dim, match.seq, qk_dim], [n_label, match.seq, qk_label])
        k3 = e.reshape(k, [n_dim, match.key, qk_dim], [n_label, match.key, qk_label])
        v3 = e.reshape(v, [n_dim, match.key, v_dim], [n_label, match.key, v_label])
        y = e.op("Attention", [q3.name, k3.name, v3.name], hint, q_num_heads=heads, kv_num_heads=heads, **attrs)
        target = outer + [match.seq] + inner + [match.head_v]
        return e.reshape(Value(y, (n_label, match.seq, v_label), q.dtype), target, target)
    q = _heads_layout(e, q, match.batch, match.seq, match.head)
    k = _heads_layout(e, k, match.batch, match.key, match.head)
    v = _heads_layout(e, v, match.batch, match.key, match.head_v)
    out = Value(e.op("Attention", [q.name, k.name, v.name], hint, **attrs), q.axes[:2] + (match.seq, match.head_v))
    target = match.batch + [match.seq, match.head_v]
    if len(match.batch) < 2:
        extra = 2 - len(match.batch)
        return Value(e.op("Squeeze", [out.name, e.ints(list(range(extra)))], "s"), tuple(target))
    return e.reshape(out, target, target)

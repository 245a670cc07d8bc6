"""Fusing scaled dot-product attention into ONNX ``Attention`` (opset 23).

The pattern is the one the torch backend fuses into SDPA, matched by
:func:`ncdl.compiler.passes.attention.match_attention`. Each match replaces
the whole chain by one ``Attention`` node: 3-D (``[batch, seq, heads * head]``)
when q, k and v come laid out as ``linear[model -> heads head]`` leaves
them, else 4-D (``[batch, heads, seq, head]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from ncdl.compiler.onnx_emit import Emitter, Value
from ncdl.compiler.passes.attention import match_attention


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


def find_attention(g: nx.MultiDiGraph, order: list[str]) -> dict[str, AttentionMatch]:
    """Every fusable attention (found by :mod:`ncdl.compiler.passes.attention`),
    keyed by its final contract node."""
    found = {}
    for node in order:
        match = match_attention(g, node)
        if match is not None:
            f, inner = match
            found[node] = AttentionMatch(
                f["q"], f["k"], f["v"], f["query"], f["key"], f["head"], f["value"],
                f["batch"], f["scale"], f["causal"], inner,
            )  # fmt: skip
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

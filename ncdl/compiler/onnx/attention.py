"""ONNX lowering of a fused attention chain: one ``Attention`` node (opset 23).

The chain is found and marked once, by
:func:`ncdl.compiler.passes.attention.fuse_attention` (run by
:mod:`ncdl.compiler.pipeline` at opsets with ``Attention``); the torch
backend lowers the same mark to SDPA. The marked node becomes one
``Attention`` node and the intermediates (``fused_into``) are skipped. It is
3-D (``[batch, seq, heads * head]``) when q, k and v come laid out as
``linear[model -> heads head]`` leaves them, else 4-D (``[batch, heads, seq, head]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ncdl.compiler.onnx.lower import OnnxEmitter, OnnxValue


@dataclass
class AttentionMatch:
    """One marked attention chain, as the ONNX lowering reads it (from the ``fused`` mark)."""

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

    @staticmethod
    def from_mark(f: dict[str, Any]) -> AttentionMatch:
        """The match described by a ``fused`` mark of kind ``attention``."""
        return AttentionMatch(
            f["q"], f["k"], f["v"], f["query"], f["key"], f["head"], f["value"], f["batch"], f["scale"], f["causal"]
        )


def _packed(
    e: OnnxEmitter, q: OnnxValue, k: OnnxValue, v: OnnxValue, m: AttentionMatch
) -> tuple[list[str], list[str], int] | None:
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


def _heads_layout(e: OnnxEmitter, x: OnnxValue, batch: list[str], rows: str, cols: str) -> OnnxValue:
    """``x`` as ``[b, h, rows, cols]`` for Attention (batch axes folded into two dims)."""
    x = e.permute(x, batch + [rows, cols])
    if len(batch) < 2:
        missing = 2 - len(batch)
        name = e.op("Unsqueeze", [x.name, e.ints(list(range(missing)))], "u")
        return OnnxValue(name, ("<1>",) * missing + x.axes, x.dtype)
    n_dim, n_label = e.group(batch[:-1])
    return e.reshape(x, [n_dim, batch[-1], rows, cols], [n_label, batch[-1], rows, cols])


def lower_attention(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """One ``Attention`` node for a marked chain (3-D when the layout allows, else 4-D); reads q, k, v from the mark."""
    match = AttentionMatch.from_mark(data["fused"])
    q, k, v = (e.values[n] for n in (match.q, match.k, match.v))
    attrs = {"is_causal": int(match.causal), "scale": float(match.scale)}
    hint = data["name"]
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
        return e.reshape(OnnxValue(y, (n_label, match.seq, v_label), q.dtype), target, target)
    q = _heads_layout(e, q, match.batch, match.seq, match.head)
    k = _heads_layout(e, k, match.batch, match.key, match.head)
    v = _heads_layout(e, v, match.batch, match.key, match.head_v)
    out = OnnxValue(e.op("Attention", [q.name, k.name, v.name], hint, **attrs), q.axes[:2] + (match.seq, match.head_v))
    target = match.batch + [match.seq, match.head_v]
    if len(match.batch) < 2:
        extra = 2 - len(match.batch)
        return OnnxValue(e.op("Squeeze", [out.name, e.ints(list(range(extra)))], "s"), tuple(target))
    return e.reshape(out, target, target)

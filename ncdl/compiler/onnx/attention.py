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
from ncdl.ir import node_inputs


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
    mask: str | None
    bias: str | None
    group: str | None

    @staticmethod
    def from_mark(f: dict[str, Any]) -> AttentionMatch:
        """The match described by a ``fused`` mark of kind ``attention``."""
        return AttentionMatch(
            f["q"], f["k"], f["v"], f["query"], f["key"], f["head"], f["value"], f["batch"], f["scale"], f["causal"],
            f["mask"], f["bias"], f["group"],
        )  # fmt: skip


def causal_mask(e: OnnxEmitter, x: OnnxValue, query: str, key: str) -> str:
    """A bool tensor, true where key index > query index + (keys - queries) (bottom-right; see ``causal`` in
    :mod:`ncdl.ir.ops`), broadcasting against ``x``."""
    iq, ik = x.axes.index(query), x.axes.index(key)
    first = min(iq, ik)
    rank = x.rank - first
    memo = ("causal", query, key, iq - first, ik - first, rank)
    if memo in e.memo:
        return e.memo[memo]
    ranges = []
    for axis, pos in ((query, iq), (key, ik)):
        r = e.op("Range", [e.const(0, "int64"), e.scalar(e.axis_size(axis)), e.const(1, "int64")], f"{axis}_index")
        others = [i for i in range(rank) if i != pos - first]
        ranges.append(e.op("Unsqueeze", [r, e.ints(others)], f"{axis}_index"))
    if e.axis_size(query) != e.axis_size(key):  # more keys than queries: shift the queries to the end
        shift = e.op("Sub", [e.scalar(e.axis_size(key)), e.scalar(e.axis_size(query))], "key_shift")
        ranges[0] = e.op("Add", [ranges[0], shift], f"{query}_index")
    e.memo[memo] = e.op("Greater", [ranges[1], ranges[0]], "causal_mask")
    return e.memo[memo]


def _attn_mask(e: OnnxEmitter, m: AttentionMatch, q: OnnxValue, k: OnnxValue) -> OnnxValue:
    """The mask and bias as one ``attn_mask`` in the 4-D heads layout: bool (true: attend) without a bias, else the
    bias with -inf where a query may not attend; causality folds in."""
    scores = m.batch + [m.seq, m.key]
    # under grouped queries the mask does not vary over the key/value heads: one row broadcasts over q's heads
    dims = [1 if m.group is not None and a == m.batch[-1] else a for a in scores]
    shape = e.shape_vec(dims, [q, k], reshape=False)
    keep = None
    if m.mask is not None:
        keep = e.op("Expand", [e.align(e.values[m.mask], scores).name, shape], "keep")
    if m.causal:
        future = causal_mask(e, OnnxValue(shape, tuple(scores)), m.seq, m.key)
        allowed = e.op("Not", [future], "past")
        keep = allowed if keep is None else e.op("And", [keep, allowed], "keep")
    if m.bias is None:
        full = OnnxValue(e.op("Expand", [keep, shape], "keep"), tuple(scores), "bool")
    else:
        bias = e.op("Expand", [e.align(e.values[m.bias], scores).name, shape], "bias")
        if keep is not None:
            bias = e.op("Where", [keep, bias, e.const(float("-inf"))], "bias")
        full = OnnxValue(bias, tuple(scores))
    if m.group is not None:
        n_dim, n_label = e.group(m.batch[:-1])
        return e.reshape(full, [n_dim, 1, m.seq, m.key], [n_label, "<1>", m.seq, m.key])
    return _heads_layout(e, full, m.batch, m.seq, m.key)


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
    # Attention's is_causal aligns top-left; with more keys than queries the bottom-right mask is built
    shifted = match.causal and e.axis_size(match.seq) != e.axis_size(match.key)
    plain = match.mask is None and match.bias is None and match.group is None and not shifted
    packed = _packed(e, q, k, v, match) if plain else None
    if packed is not None:
        outer, inner, heads = packed
        n_dim, n_label = e.group(outer)
        (qk_dim, qk_label), (v_dim, v_label) = e.group(inner + [match.head]), e.group(inner + [match.head_v])
        q3 = e.reshape(q, [n_dim, match.seq, qk_dim], [n_label, match.seq, qk_label])
        k3 = e.reshape(k, [n_dim, match.key, qk_dim], [n_label, match.key, qk_label])
        v3 = e.reshape(v, [n_dim, match.key, v_dim], [n_label, match.key, v_label])
        y = e.op("Attention", [q3.name, k3.name, v3.name], hint, q_num_heads=heads, kv_num_heads=heads, **attrs)
        target = outer + [match.seq] + inner + [match.head_v]
        out = OnnxValue(y, (n_label, match.seq, v_label), q.dtype)
        if tuple(target) == out.axes:
            # onnxruntime's shape inference gives a 3-D Attention whose input sizes it does not
            # know an output of the wrong width (campaign seed 8087): restate the shape
            return OnnxValue(e.op("Reshape", [y, e.shape_vec(target, [out])], "r"), tuple(target), q.dtype)
        return e.reshape(out, target, target)
    inputs = []
    cache = _cache(e, match)
    if cache is not None:  # a decoding step: the new keys and values, the past ones as Attention's own inputs
        k, v = cache.new_k, cache.new_v
    if match.mask is not None or match.bias is not None or shifted:
        inputs.append(_attn_mask(e, match, q, k).name)
        attrs["is_causal"] = 0
    if cache is not None:
        inputs = (inputs or [""]) + [cache.past_k, cache.past_v]
    if match.group is not None:
        return _grouped(e, match, q, k, v, inputs, attrs, hint, cache)
    q = _heads_layout(e, q, match.batch, match.seq, match.head)
    keys = k.axes[-2] if cache is not None else match.key  # the new keys' own axis under a cache
    k = _heads_layout(e, k, match.batch, keys, match.head)
    v = _heads_layout(e, v, match.batch, keys, match.head_v)
    y = _attention(e, [q.name, k.name, v.name, *inputs], hint, attrs, cache)
    out = OnnxValue(y, q.axes[:2] + (match.seq, match.head_v))
    target = match.batch + [match.seq, match.head_v]
    if len(match.batch) < 2:
        extra = 2 - len(match.batch)
        return OnnxValue(e.op("Squeeze", [out.name, e.ints(list(range(extra)))], "s"), tuple(target))
    return e.reshape(out, target, target)


def _grouped(
    e: OnnxEmitter,
    m: AttentionMatch,
    q: OnnxValue,
    k: OnnxValue,
    v: OnnxValue,
    inputs: list[str],
    attrs: dict[str, Any],
    hint: str,
    cache: Cache | None = None,
) -> OnnxValue:
    """Grouped-query attention in the 4-D form: q ``[n, kv_heads * group, L, E]`` against k and v
    ``[n, kv_heads, S, E]`` (Attention pairs query head h with key/value head h // group)."""
    heads, group = m.batch[-1], m.group
    n_dim, n_label = e.group(m.batch[:-1])
    hq_dim, hq_label = e.group([heads, group])
    q = e.permute(q, m.batch + [group, m.seq, m.head])
    q4 = e.reshape(q, [n_dim, hq_dim, m.seq, m.head], [n_label, hq_label, m.seq, m.head])
    keys = k.axes[-2] if cache is not None else m.key
    k4 = e.reshape(e.permute(k, m.batch + [keys, m.head]), [n_dim, heads, keys, m.head])
    v4 = e.reshape(e.permute(v, m.batch + [keys, m.head_v]), [n_dim, heads, keys, m.head_v])
    y = _attention(e, [q4.name, k4.name, v4.name, *inputs], hint, attrs, cache)
    target = m.batch + [group, m.seq, m.head_v]
    return e.reshape(OnnxValue(y, (n_label, hq_label, m.seq, m.head_v), q.dtype), target, target)


@dataclass
class Cache:
    """A decoding step's attention (see :mod:`ncdl.compiler.decoding`): k and v are ``concat(past, new)`` of a
    model input and the new entries, both laid out ``[batch, heads, positions, head]``."""

    past_k: str
    past_v: str
    new_k: OnnxValue
    new_v: OnnxValue
    present_k: str
    present_v: str


def _cache(e: OnnxEmitter, m: AttentionMatch) -> Cache | None:
    """The cache of a decoding step's attention, when k and v are cache concats in the 4-D layout; else None."""
    if len(m.batch) != 2:
        return None
    parts = []
    for node, feat in ((m.k, m.head), (m.v, m.head_v)):
        data = e.g.nodes[node]
        if data["op"] != "concat" or not data.get("kv_cache") or data["axes"] != m.batch + [m.key, feat]:
            return None
        past, new = node_inputs(e.g, node)
        new_value = e.values[new]
        if list(new_value.axes) != m.batch + [data["attrs"]["axes"][1], feat]:
            return None
        parts.append((e.values[past].name, new_value, e.values[node].name))
    (pk, nk, ck), (pv, nv, cv) = parts
    return Cache(pk, pv, nk, nv, ck, cv)


def _attention(e: OnnxEmitter, inputs: list[str], hint: str, attrs: dict[str, Any], cache: Cache | None) -> str:
    """One ``Attention`` node; with a cache its ``present_key``/``present_value`` outputs replace the ``Concat``
    nodes that computed them, and what read those moves after it."""
    if cache is None:
        return e.op("Attention", inputs, hint, **attrs)
    present = {cache.present_k, cache.present_v}
    first = min(i for i, n in enumerate(e.nodes) if set(n.output) & present)
    kept, moved, tainted = e.nodes[:first], [], set(present)
    for node in e.nodes[first:]:
        if set(node.output) & present:
            continue  # the Concat: Attention computes it
        if set(node.input) & tainted:
            moved.append(node)
            tainted.update(node.output)
        else:
            kept.append(node)
    e.nodes = kept
    y, _, _ = e.ops("Attention", inputs, [hint, "present_key", "present_value"], **attrs)
    e.nodes[-1].output[1], e.nodes[-1].output[2] = cache.present_k, cache.present_v
    e.nodes.extend(moved)
    return y

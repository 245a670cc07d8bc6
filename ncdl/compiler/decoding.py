"""Incremental decoding: the prefill and step graphs of a causal model, derived from its IR.

A model whose every attention is causal over one free sequence axis (the
query axis of the attention; its keys are the same positions under another
name) can generate a token at a time. :func:`decoding` derives two graphs
from the IR, leaving the ``.ncd`` file alone:

* the **prefill** graph: the model's inputs, its outputs followed by
  ``present.{i}.key`` and ``present.{i}.value`` for every attention ``i`` (in
  graph order), laid out ``[batch axes..., key, head]`` (``[batch, heads, seq,
  head]`` for the bundled GPT);
* the **step** graph: the model's inputs (the new tokens), then ``offset``
  (int64, no axes: how many positions came before) and
  ``past_key_values.{i}.key`` / ``.value`` (``[batch, heads, past_seq, head]``);
  its outputs are the model's outputs for the new positions followed by the
  ``present`` keys and values over ``past_seq + seq`` positions.

How the step graph differs from the model: each attention's new keys and
values are concatenated after the past ones (a ``concat``, which the
``mark_kv_cache`` pass marks and the torch backend turns into an in-place
append to a preallocated cache) and the attention runs over them; ``positions`` of the
sequence axis start at ``offset``; a learned table over the sequence axis
(``param[seq, model]``) is read at ``offset + positions``. ``causal`` is
aligned bottom-right (see :mod:`ncdl.ir.ops`): with ``past`` earlier keys,
query ``i`` sees keys ``0 .. past + i``, which is exactly causality in the
full sequence.

A model that cannot be decoded this way gets a located diagnostic naming the
box that prevents it (E230-E234).

Example:
    >>> d = decoding(program.graph("GPT"))
    >>> step = lower_fx(d.step, "flat")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ncdl.compiler.passes.attention import fuse_attention
from ncdl.ir import OPS, Axis, add_node, node_inputs, topological
from ncdl.ir.sizes import Size

__all__ = ["Decoding", "DecodingError", "decoding", "OFFSET", "past_name", "present_name"]

#: The name of the step graph's position offset input.
OFFSET = "offset"

# boxes that act on the sequence axis without mixing positions (`embed` reads one row per
# position, also when its table is over the sequence itself: learned positions)
_WIRING = {"input", "output", "rename", "positions", "param", "embed", "transpose", "dropout", "cast"}


class DecodingError(Exception):
    """The model cannot be decoded incrementally: a diagnostic code, the message, the span (the IR's ``span``
    dict of the box that prevents it, or None) and a hint. :meth:`ncdl.Program.decoding` turns it into a
    located :class:`ncdl.NcdlError`."""

    def __init__(self, code: str, message: str, span: dict[str, Any] | None, hint: str) -> None:
        super().__init__(f"error[{code}]: {message}")
        self.code, self.message, self.span, self.hint = code, message, span, hint


def past_name(i: int, which: str) -> str:
    """``past_key_values.{i}.key`` / ``.value``: the step graph's cache inputs (Hugging Face's names)."""
    return f"past_key_values.{i}.{which}"


def present_name(i: int, which: str) -> str:
    """``present.{i}.key`` / ``.value``: the updated cache outputs."""
    return f"present.{i}.{which}"


@dataclass
class Decoding:
    """The two graphs of incremental decoding and what a generation loop needs to drive them."""

    #: The decoded sequence axis (the attentions' query axis), the past axis and the total one.
    seq: str
    past: str
    total: str
    #: The model's inputs and outputs (the step graph adds the offset and the caches after them).
    prefill: nx.MultiDiGraph
    step: nx.MultiDiGraph
    #: One entry per attention, in graph order: ``{"key": [axes], "value": [axes], "scope": str}``
    #: (the cache layout with the past axis in the sequence's place).
    layers: list[dict[str, Any]] = field(default_factory=list)

    def layout(self) -> dict[str, Any]:
        """What a generation loop needs (``ncdl.decoding`` in an exported step graph's metadata): the axes, the
        cache inputs' names and axes per attention, the fixed sizes of those axes and the sequence's bound."""
        axes = self.step.graph["axes"]
        used = {a for layer in self.layers for which in ("key", "value") for a in layer[which]}
        return {
            "seq": self.seq,
            "past": self.past,
            "total": self.total,
            "bound": axes[self.seq].bound,
            "offset": OFFSET,
            "sizes": {a: axes[a].fixed for a in sorted(used) if axes[a].fixed is not None},
            "layers": [
                {
                    "scope": layer["scope"],
                    **{which: layer[which] for which in ("key", "value")},
                    **{f"past_{which}": past_name(i, which) for which in ("key", "value")},
                    **{f"present_{which}": present_name(i, which) for which in ("key", "value")},
                }
                for i, layer in enumerate(self.layers)
            ],
        }

    def to_json(self) -> str:
        """:meth:`layout` as JSON."""
        return json.dumps(self.layout())


def decoding(g: nx.MultiDiGraph) -> Decoding:
    """The prefill and step graphs of ``g`` (see module doc).

    Raises:
        DecodingError: E230 no causal attention; E231 an attention is not causal; E232 a box mixes positions of the
            sequence axis other than through causal attention; E233 an attention has a mask or bias (its extent
            over the keys would change with the cache); E234 no input carries the sequence axis.
    """
    marked = fuse_attention(g)
    attentions = [n for n in topological(marked) if marked.nodes[n].get("fused", {}).get("kind") == "attention"]
    model = g.graph.get("model") or "model"
    if not attentions:
        out = g.graph["outputs"][0] if g.graph["outputs"] else None
        raise _error(
            g, out, "E230", f"model `{model}` has no attention, so it has no keys and values to cache",
            "incremental decoding derives its cache from causal attention (`causal[query, key]` before the softmax)",
        )  # fmt: skip
    seq = None
    for node in attentions:
        f = marked.nodes[node]["fused"]
        if not f["causal"]:
            raise _error(
                g, node, "E231", f"attention `{_where(g, node)}` is bidirectional: every position sees later ones",
                "a model decodes a token at a time only when each attention masks the future with "
                "`causal[query, key]` before its softmax",
            )  # fmt: skip
        if f["mask"] is not None or f["bias"] is not None:
            extra = f["mask"] or f["bias"]
            raise _error(
                g, extra, "E233",
                f"attention `{_where(g, node)}` has a {'mask' if f['mask'] else 'bias'} over its scores; its keys "
                "would outgrow it during decoding",
                "decode with `causal[query, key]` alone; a mask or bias over the keys is not extended with the cache",
            )  # fmt: skip
        seq = seq or f["query"]
    assert seq is not None
    axes = g.graph["axes"]
    root = axes[seq].size
    if seq not in g.graph["bindings"] or axes[seq].fixed is not None:
        raise _error(
            g, attentions[0], "E234", f"the sequence axis `{seq}` is not a free axis of a model input",
            "the tokens input must carry the free sequence axis that the attention's queries run over",
        )  # fmt: skip
    inner = _check_positionwise(g, marked, attentions, seq, root)
    return _derive(g, marked, attentions, inner, seq)


def _check_positionwise(
    g: nx.MultiDiGraph, marked: nx.MultiDiGraph, attentions: list[str], seq: str, root: Size
) -> set[str]:
    """The attention nodes; raise E231/E232 at the first box that mixes positions of the sequence."""
    axes = g.graph["axes"]
    inside = set(attentions) | {n for n in marked if marked.nodes[n].get("fused_into") in set(attentions)}
    for node in topological(g):
        data = g.nodes[node]
        op = OPS[data["op"]]
        if node in inside or data["op"] in _WIRING or op.elementwise or not op.selective:
            continue
        wires = set(data["axes"]).union(*(g.nodes[s]["axes"] for s in node_inputs(g, node)))
        seqish = {a for a in wires if root.symbols() & axes[a].size.symbols()}
        acted = op.acts_on(data["attrs"], sorted(wires)) & seqish
        if acted:
            if data["op"] in ("softmax", "contract", "causal"):
                raise _error(
                    g, node, "E231",
                    f"`{data['op']}`{_within(g, node)} mixes positions along `{sorted(acted)[0]}` outside a "
                    "causal attention",
                    "only attention that ncdl fuses (q·k, scale, `causal`, softmax, ·v) may mix positions of a "
                    "decoded sequence",
                )  # fmt: skip
            raise _error(
                g, node, "E232",
                f"`{data['op']}`{_within(g, node)} mixes positions along `{sorted(acted)[0]}`, so the model "
                "cannot be decoded a token at a time",
                "a decoded model may mix positions only through causal attention",
            )  # fmt: skip
    return inside


def _derive(g: nx.MultiDiGraph, marked: nx.MultiDiGraph, attentions: list[str], inside: set[str], seq: str) -> Decoding:
    """Build both graphs from the checked ``g`` and its attention marks."""
    axes = g.graph["axes"]
    past, total = f"past_{seq}", f"total_{seq}"
    prefill, step = g.copy(), g.copy()
    for h in (prefill, step):
        h.graph = {
            **g.graph,
            "axes": dict(axes),
            "inputs": list(g.graph["inputs"]),
            "outputs": list(g.graph["outputs"]),
        }
        h.graph["bindings"] = dict(g.graph["bindings"])
    step.graph["axes"][past] = Axis(past, Size.symbol(past), axes[seq].bound)
    step.graph["axes"][total] = Axis(total, Size.symbol(past) + axes[seq].size, axes[seq].bound)
    step.graph["empty_axes"] = [past]  # the first step has an empty cache
    offset = add_node(step, "input", [], [], name=OFFSET, dtype="int64", attrs={"name": OFFSET})
    step.graph["inputs"].append(offset)
    layers = []
    for i, node in enumerate(attentions):
        f = marked.nodes[node]["fused"]
        chain = [n for n in inside if n == node or marked.nodes[n].get("fused_into") == node]
        layer: dict[str, Any] = {"scope": g.nodes[node]["scope"]}
        for which, src, feat in (("key", f["k"], f["head"]), ("value", f["v"], f["value"])):
            layout = f["batch"] + [f["key"], feat]
            new_p = _transposed(prefill, src, layout)
            _output(prefill, new_p, present_name(i, which))
            new_s = _transposed(step, src, layout)
            cache = [past if a == f["key"] else a for a in layout]
            past_in = add_node(step, "input", [], cache, name=past_name(i, which), attrs={"name": past_name(i, which)})
            step.graph["inputs"].append(past_in)
            step.graph["bindings"].setdefault(past, [past_in, cache.index(past)])
            joined = add_node(
                step, "concat", [past_in, new_s], [total if a == f["key"] else a for a in layout], name=f"{which}s",
                attrs={"axes": [past, f["key"]], "into": total}, scope=g.nodes[src]["scope"],
                span=g.nodes[src]["span"], frames=g.nodes[src]["frames"],
            )  # fmt: skip
            _output(step, joined, present_name(i, which))
            _rewire(step, src, joined, chain)
            layer[which] = cache
        for n in chain:
            _rename_axis(step, n, f["key"], total)
        layers.append(layer)
    _offset_positions(step, offset, seq)
    return Decoding(seq, past, total, prefill, step, layers)


def _transposed(h: nx.MultiDiGraph, src: str, layout: list[str]) -> str:
    """``src`` laid out as ``layout`` (a transpose node, or ``src`` itself when it already is)."""
    have = h.nodes[src]["axes"]
    if have == layout:
        return src
    d = h.nodes[src]
    perm = [have.index(a) for a in layout]
    return add_node(h, "transpose", [src], layout, name=d["name"], attrs={"perm": perm}, scope=d["scope"])


def _output(h: nx.MultiDiGraph, src: str, name: str) -> None:
    out = add_node(
        h, "output", [src], h.nodes[src]["axes"], name=name, dtype=h.nodes[src]["dtype"], attrs={"name": name}
    )
    h.graph["outputs"].append(out)


def _rewire(h: nx.MultiDiGraph, old: str, new: str, consumers: list[str]) -> None:
    """Feed ``consumers`` from ``new`` where they read ``old``."""
    for _, dst, key, data in list(h.out_edges(old, keys=True, data=True)):
        if dst in consumers:
            h.remove_edge(old, dst, key)
            h.add_edge(new, dst, port=data["port"], axes=list(h.nodes[new]["axes"]))


def _rename_axis(h: nx.MultiDiGraph, node: str, old: str, new: str) -> None:
    """Within an attention chain: the key axis becomes the total one (in axes, attributes and in-edges)."""
    d = h.nodes[node]
    d["axes"] = [new if a == old else a for a in d["axes"]]
    attrs = dict(d["attrs"])
    for k, v in attrs.items():
        if v == old:
            attrs[k] = new
        elif isinstance(v, list) and old in v:
            attrs[k] = [new if a == old else a for a in v]
    d["attrs"] = attrs
    for src, _, data in h.in_edges(node, data=True):
        data["axes"] = list(h.nodes[src]["axes"])
    for _, _, data in h.out_edges(node, data=True):
        data["axes"] = list(d["axes"])


def _offset_positions(h: nx.MultiDiGraph, offset: str, seq: str) -> None:
    """Positions of ``seq`` start at ``offset``; a learned table over ``seq`` is read at those positions."""
    axes = h.graph["axes"]
    table = f"{seq}_table"
    shifted: str | None = None

    def positions() -> str:
        nonlocal shifted
        if shifted is None:
            shifted = add_node(h, "positions", [offset], [seq], name="positions", dtype="int64", attrs={"axis": seq})
        return shifted

    for node in list(topological(h)):
        d = h.nodes[node]
        if d["op"] == "positions" and d["attrs"]["axis"] == seq:
            if node_inputs(h, node):  # positions already offset by the model: add ours
                (own,) = node_inputs(h, node)
                summed = add_node(
                    h, "add", [own, offset], h.nodes[own]["axes"], name="offset", dtype="int64", scope=d["scope"]
                )
                h.remove_edge(own, node)
                h.add_edge(summed, node, port=0, axes=list(h.nodes[summed]["axes"]))
            else:
                h.add_edge(offset, node, port=0, axes=[])
        elif d["op"] == "param" and seq in d["axes"]:
            if table not in axes:
                axes[table] = Axis(table, Size.const(axes[seq].bound or 0))
            read = [table if a == seq else a for a in d["axes"]]
            consumers = list(h.out_edges(node, keys=True, data=True))
            d["axes"] = read
            picked = add_node(
                h, "gather", [node, positions()], [seq if a == table else a for a in read], name=d["name"],
                attrs={"axis": table}, scope=d["scope"], span=d["span"], frames=d["frames"],
            )  # fmt: skip
            for _, dst, key, data in consumers:
                h.remove_edge(node, dst, key)
                h.add_edge(picked, dst, port=data["port"], axes=list(h.nodes[picked]["axes"]))


def _within(g: nx.MultiDiGraph, node: str) -> str:
    scope = g.nodes[node]["scope"]
    return f" in `{scope}`" if scope else ""


def _where(g: nx.MultiDiGraph, node: str) -> str:
    return g.nodes[node]["scope"] or g.nodes[node]["name"]


def _error(g: nx.MultiDiGraph, node: str | None, code: str, message: str, hint: str) -> DecodingError:
    """A :class:`DecodingError` located at ``node``'s source span."""
    return DecodingError(code, message, (g.nodes[node]["span"] or None) if node is not None else None, hint)

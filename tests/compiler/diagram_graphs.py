"""Hand-built IR graphs for the diagram tests and the render benchmark.

The front end is not needed: :class:`Builder` appends nodes with
:func:`ncdl.ir.add_node` while keeping the circuit frames (``scope`` and
``frames``) the checker would record for nested circuits and repeats.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import networkx as nx

from ncdl.ir import Axis, add_node, new_graph
from ncdl.ir.sizes import Size


class Builder:
    """Append IR nodes inside a stack of circuit frames."""

    def __init__(self, model: str, axes: dict[str, int | str | tuple[str, int]]) -> None:
        """``axes`` maps a name to an int (sized), a root name (free alias) or (root, bound)."""
        self.g = new_graph(model)
        for name, spec in axes.items():
            if isinstance(spec, int):
                self.g.graph["axes"][name] = Axis(name, Size.const(spec))
            elif isinstance(spec, tuple):
                self.g.graph["axes"][name] = Axis(name, Size.symbol(spec[0]), spec[1])
            else:
                self.g.graph["axes"][name] = Axis(name, Size.symbol(spec))
        self.frames: list[list[Any]] = []

    @property
    def scope(self) -> str:
        """The innermost frame's path ('' at model level)."""
        return self.frames[-1][0] if self.frames else ""

    @contextmanager
    def frame(self, path: str, circuit: str, kind: str = "circuit") -> Iterator[None]:
        """Nodes added inside belong to the frame ``[path, circuit, kind]``."""
        self.frames.append([path, circuit, kind])
        try:
            yield
        finally:
            self.frames.pop()

    @contextmanager
    def repeat(self, path: str, count: int) -> Iterator[None]:
        """A ``repeat`` block (iterations go in :meth:`iteration`)."""
        self.g.graph["repeats"][path] = count
        with self.frame(path, "", "repeat"):
            yield

    def iteration(self, index: int) -> Any:
        """Iteration ``index`` of the innermost repeat."""
        return self.frame(f"{self.scope}.{index}", "", "iteration")

    def circuit(self, name: str, circuit: str) -> Any:
        """An instance of ``circuit`` called ``name`` under the current path."""
        path = f"{self.scope}.{name}" if self.scope and name else (name or self.scope)
        self.g.graph["circuits"][path] = circuit
        return self.frame(path, circuit, "circuit")

    def op(self, op: str, inputs: list[str], axes: list[str], *, key: str = "", **kw: Any) -> str:
        """Add a node; ``key`` extends the scope (``blocks.0.attn`` + ``q``)."""
        scope = f"{self.scope}.{key}" if self.scope and key else (key or self.scope)
        return add_node(self.g, op, inputs, axes, scope=scope, frames=[list(f) for f in self.frames], **kw)

    def size(self, axis: str) -> int:
        """The fixed size of ``axis``."""
        value = self.g.graph["axes"][axis].fixed
        assert value is not None, axis
        return value

    def param(self, scope: str, key: str, axes: list[str], init: str = "ones") -> dict[str, Any]:
        """A parameter dict over sized ``axes``."""
        name = f"{scope}.{key}" if scope else key
        return {
            "key": key,
            "name": name,
            "axes": axes,
            "shape": [self.size(a) for a in axes],
            "init": {"kind": init},
            "tied_to": None,
        }

    def linear(self, x: str, ins: list[str], outs: list[str], key: str, bias: bool = True) -> str:
        """``linear[ins -> outs](x)`` with its weight (and bias)."""
        scope = f"{self.scope}.{key}" if self.scope else key
        passing = [a for a in self.g.nodes[x]["axes"] if a not in ins]
        params = [self.param(scope, "weight", outs + ins, "uniform")]
        if bias:
            params.append(self.param(scope, "bias", outs, "uniform"))
        attrs = {"in": ins, "out": outs, "bias": bias}
        return self.op("linear", [x], passing + outs, key=key, attrs=attrs, params=params, name=key)

    def layernorm(self, x: str, axes: list[str], key: str) -> str:
        """``layernorm[axes](x)`` with weight and bias."""
        scope = f"{self.scope}.{key}" if self.scope else key
        params = [self.param(scope, "weight", axes), self.param(scope, "bias", axes, "zeros")]
        attrs = {"axes": axes, "eps": 1e-5, "affine": True, "bias": True}
        return self.op("layernorm", [x], self.g.nodes[x]["axes"], key=key, attrs=attrs, params=params)


def contract_axes(a: list[str], b: list[str], over: list[str]) -> list[str]:
    """The IR's layout rule for ``contract[over](a, b)``."""
    shared = [x for x in a if x in b and x not in over]
    return (
        shared
        + [x for x in a if x not in over and x not in shared]
        + [x for x in b if x not in over and x not in shared]
    )


GPT_AXES: dict[str, int | str | tuple[str, int]] = {
    "batch": "batch",
    "seq": ("seq", 256),
    "key": ("seq", 256),
    "vocab": 65,
    "model": 128,
    "heads": 4,
    "head": 32,
    "hidden": 512,
}


def attention(b: Builder, q: str, k: str, v: str, dropout: bool = False) -> str:
    """Single-head attention as in the design's sketch, broadcast over the rest."""
    n = b.g.nodes
    s = b.op(
        "contract", [q, k], contract_axes(n[q]["axes"], n[k]["axes"], ["head"]), attrs={"over": ["head"]}, name="s"
    )
    s = b.op("div", [s], n[s]["axes"], attrs={"const": math.sqrt(b.size("head")), "const_left": False}, name="s")
    s = b.op("causal", [s], n[s]["axes"], attrs={"query": "seq", "key": "key"})
    p = b.op("softmax", [s], n[s]["axes"], attrs={"axis": "key"})
    if dropout:
        p = b.op("dropout", [p], n[p]["axes"], attrs={"p": 0.1})
    return b.op("contract", [p, v], contract_axes(n[p]["axes"], n[v]["axes"], ["key"]), attrs={"over": ["key"]})


def block(b: Builder, x: str, dropout: bool) -> str:
    """One pre-norm transformer block (attention + MLP, both residual)."""
    n = b.g.nodes
    h = b.layernorm(x, ["model"], "ln1")
    with b.circuit("attn", "SelfAttention"):
        q = b.linear(h, ["model"], ["heads", "head"], "q", bias=False)
        k = b.linear(h, ["model"], ["heads", "head"], "k", bias=False)
        k = b.op("rename", [k], [a if a != "seq" else "key" for a in n[k]["axes"]], attrs={"map": {"seq": "key"}})
        v = b.linear(h, ["model"], ["heads", "head"], "v", bias=False)
        v = b.op("rename", [v], [a if a != "seq" else "key" for a in n[v]["axes"]], attrs={"map": {"seq": "key"}})
        with b.circuit("attention", "Attention"):
            o = attention(b, q, k, v, dropout)
        a = b.linear(o, ["heads", "head"], ["model"], "o")
    if dropout:
        a = b.op("dropout", [a], n[a]["axes"], attrs={"p": 0.1})
    x = b.op("add", [x, a], n[x]["axes"], attrs={"const": None, "const_left": False}, name="x")
    h = b.layernorm(x, ["model"], "ln2")
    with b.circuit("mlp", "MLP"):
        h = b.linear(h, ["model"], ["hidden"], "up")
        h = b.op("gelu", [h], n[h]["axes"], attrs={"approximate": "none"})
        h = b.linear(h, ["hidden"], ["model"], "down")
    if dropout:
        h = b.op("dropout", [h], n[h]["axes"], attrs={"p": 0.1})
    return b.op("add", [x, h], n[x]["axes"], attrs={"const": None, "const_left": False}, name="x")


def gpt(layers: int = 2, *, dropout: bool = False) -> nx.MultiDiGraph:
    """A decoder-only transformer IR with ``layers`` blocks in one ``repeat``."""
    b = Builder("GPT", GPT_AXES)
    n = b.g.nodes
    tokens = b.op("input", [], ["batch", "seq"], dtype="int64", attrs={"name": "tokens", "of": "vocab"}, name="tokens")
    b.g.graph["inputs"].append(tokens)
    b.g.graph["bindings"] = {"batch": [tokens, 0], "seq": [tokens, 1]}
    emb = b.op(
        "embed",
        [tokens],
        ["batch", "seq", "model"],
        key="tok",
        attrs={"vocab": "vocab", "out": ["model"]},
        params=[b.param("tok", "weight", ["vocab", "model"], "normal")],
    )
    pos = b.op(
        "param",
        [],
        ["seq", "model"],
        key="pos",
        params=[{**b.param("pos", "weight", ["model"], "normal"), "axes": ["seq", "model"], "shape": [256, 128]}],
    )
    x = b.op("add", [emb, pos], n[emb]["axes"], attrs={"const": None, "const_left": False}, name="x")
    with b.repeat("blocks", layers):
        for i in range(layers):
            with b.iteration(i), b.circuit("", "Block"):
                x = block(b, x, dropout)
    x = b.layernorm(x, ["model"], "ln_f")
    x = b.linear(x, ["model"], ["vocab"], "head")
    out = b.op("output", [x], n[x]["axes"], attrs={"name": "logits"}, name="logits")
    b.g.graph["outputs"].append(out)
    return b.g


def mlp() -> nx.MultiDiGraph:
    """A tiny model with no circuits: x [batch, features] -> linear -> relu -> y [batch, classes]."""
    b = Builder("MLP", {"batch": "batch", "features": 8, "classes": 3})
    n = b.g.nodes
    x = b.op("input", [], ["batch", "features"], attrs={"name": "x", "of": None}, name="x")
    b.g.graph["inputs"].append(x)
    h = b.linear(x, ["features"], ["classes"], "fc")
    h = b.op("relu", [h], n[h]["axes"])
    h = b.op("softmax", [h], n[h]["axes"], attrs={"axis": "classes"})
    y = b.op("output", [h], n[h]["axes"], attrs={"name": "y"}, name="y")
    b.g.graph["outputs"].append(y)
    return b.g

"""Mark boxes that may overwrite an input instead of allocating their result.

Hand-written torch does this where it is safe: ``ReLU(inplace=True)`` after a
batchnorm, ``x += residual`` on a sublayer's output. A box may overwrite an
input when that input is *fresh*: a new tensor, read by this box alone, that
autograd does not keep for the backward pass. The producers of fresh tensors
are the learned maps and norms whose backward needs only their inputs
(``linear``, ``conv``, ``batchnorm``, ``layernorm``, ``rmsnorm``) and the
arithmetic of two tensors (``add``, ``sub``, ``mul``, ``div``); ``dropout``
passes freshness through (at inference it returns its input itself).
Producers that autograd keeps the result of (``relu``, ``exp``, ``tanh``,
``softmax``, a fused attention) never qualify.

Two boxes are marked, with an ``inplace`` node attribute; the op is
unchanged, so a backend that ignores the mark computes the same thing:

* a ``relu`` over a fresh tensor: ``inplace = True`` (``torch.relu_``);
* an ``add`` of two tensors one of which is fresh and already has the
  result's axes, in order, and dtype: ``inplace`` is that operand's port
  (``operand.add_(other)``). The residual adds of a transformer are this.

In place, a step allocates one activation fewer per marked box and touches
less memory.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import node_inputs

#: Producers whose result is a new tensor that their backward does not need.
_FRESH = frozenset({"linear", "conv", "batchnorm", "layernorm", "rmsnorm"})
#: Arithmetic, fresh when both operands are tensors (against a constant, leave it alone).
_ARITHMETIC = frozenset({"add", "sub", "mul", "div"})
#: Marks of nodes computed by, or computing, something else: never overwritten.
_TAKEN = ("fused", "fused_into", "siblings", "kv_cache")


def _fresh(g: nx.MultiDiGraph, node: str) -> bool:
    """Whether ``node``'s value is fresh (see module doc) and read by one consumer only."""
    while True:
        data = g.nodes[node]
        if g.out_degree(node) != 1 or any(data.get(mark) for mark in _TAKEN):
            return False
        if data["op"] != "dropout":
            break
        (node,) = node_inputs(g, node)
    if data["op"] in _ARITHMETIC:
        return data["attrs"]["const"] is None and g.in_degree(node) == 2
    return data["op"] in _FRESH


def _inplace(g: nx.MultiDiGraph, node: str, data: dict[str, Any]) -> bool | int | None:
    """The ``inplace`` mark for ``node``, or None."""
    if data.get("fused_into"):
        return None
    if data["op"] == "relu":
        (src,) = node_inputs(g, node)
        return True if _fresh(g, src) else None
    if data["op"] == "add" and data["attrs"]["const"] is None and g.in_degree(node) == 2:
        for port, src in enumerate(node_inputs(g, node)):
            operand = g.nodes[src]
            if operand["axes"] == data["axes"] and operand["dtype"] == data["dtype"] and _fresh(g, src):
                return port
    return None


def mark_inplace(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every relu and add that may overwrite an input marked (see module doc); a copy when
    anything is marked."""
    out = Marks(g)
    for node, data in g.nodes(data=True):
        if data["op"] in ("relu", "add"):
            mark = _inplace(g, node, data)
            if mark is not None:
                out.nodes[node]["inplace"] = mark
    return out.graph()

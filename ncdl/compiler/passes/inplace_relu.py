"""Mark ``relu`` boxes that may overwrite their input, as torchvision's ``ReLU(inplace=True)`` does.

A relu may run in place when its input is a fresh tensor that nothing else
reads and that autograd does not keep: the output of a ``batchnorm`` (its
backward needs the input and statistics, not the output) or of a two-input
``add`` (its backward needs nothing), consumed by this relu alone. The relu
gets an ``inplace`` node attribute; the op is unchanged, so a backend that
ignores the mark computes the same thing. In place, a step allocates one
activation fewer per marked relu and touches less memory.
"""

from __future__ import annotations

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import node_inputs

#: Producers whose output is fresh and not saved for the backward pass.
_FRESH = frozenset({"batchnorm", "add"})


def mark_inplace_relu(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every relu that may run in place marked (see module doc): a copy when anything is marked."""
    out = Marks(g)
    for node, data in g.nodes(data=True):
        if data["op"] != "relu":
            continue
        (src,) = node_inputs(g, node)
        producer = g.nodes[src]
        if producer["op"] not in _FRESH or g.out_degree(src) != 1 or producer.get("fused_into"):
            continue
        if producer["op"] == "add" and (producer["attrs"]["const"] is not None or g.in_degree(src) != 2):
            continue
        out.nodes[node]["inplace"] = True
    return out.graph()

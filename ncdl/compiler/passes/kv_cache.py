"""Mark the key/value cache appends of a decoding step graph.

In the step graph that :func:`ncdl.compiler.decoding.decoding` derives, each
attention's keys (and values) are ``concat(past, new)`` where ``past`` is a
model input and the result is a model output (``present``). The torch
backend writes the new entries into spare room behind ``past`` (a
preallocated cache) instead of copying both; this pass finds those concats
and marks them ``kv_cache``. The op is unchanged: a backend that ignores the
mark concatenates, which gives the same tensor.
"""

from __future__ import annotations

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import node_inputs


def mark_kv_cache(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every cache append (see module doc) marked ``kv_cache``: a copy when anything is marked."""
    out = Marks(g)
    for node, data in g.nodes(data=True):
        if data["op"] != "concat" or len(data["attrs"]["axes"]) != 2:
            continue
        past, new = node_inputs(g, node)
        own = data["attrs"]["axes"]
        layouts = [[own[i] if a == data["attrs"]["into"] else a for a in data["axes"]] for i in (0, 1)]
        # the past in the cache's own layout, the new entries with every axis (nothing to broadcast)
        if g.nodes[past]["op"] != "input" or g.nodes[past]["axes"] != layouts[0]:
            continue
        if sorted(g.nodes[new]["axes"]) != sorted(layouts[1]):
            continue
        if any(g.nodes[dst]["op"] == "output" for dst in g.successors(node)):
            out.nodes[node]["kv_cache"] = True
    return out.graph()

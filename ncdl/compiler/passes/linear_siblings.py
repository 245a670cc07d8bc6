"""Find ``linear`` boxes that read the same tensor and mark them to run as one matmul.

Attention's q, k and v projections are three ``linear`` boxes on one input:
three matrix products forward and six backward, where PyTorch code written by
hand (nanoGPT's ``c_attn``) runs one of each. Siblings qualify when they read
the same producer, map the same ``in`` axes, agree on having a bias, and own
their (untied) weights. The first sibling in topological order gets a
``siblings`` node attribute (every member's id, in order, itself first); the
others get ``fused_into`` (the first's id). Ops are unchanged, so a backend
that ignores the marks computes the same thing; the torch.fx backend
concatenates the weights and runs one ``F.linear``, then splits the result.
"""

from __future__ import annotations

import networkx as nx

from ncdl.compiler.passes.marks import Marks
from ncdl.ir import topological


def fuse_sibling_linears(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with every group of sibling linears marked (see module doc): a copy when anything is marked."""
    out = Marks(g)
    order = {n: i for i, n in enumerate(topological(g))}
    for producer in order:
        groups: dict[tuple, list[str]] = {}
        for consumer in sorted(set(g.successors(producer)), key=order.__getitem__):
            data = g.nodes[consumer]
            if data["op"] != "linear" or data.get("fused_into") or g.in_degree(consumer) != 1:
                continue
            if any(p.get("tied_to") for p in data["params"]):
                continue
            key = (tuple(data["attrs"]["in"]), data["attrs"]["bias"])
            groups.setdefault(key, []).append(consumer)
        for members in groups.values():
            if len(members) < 2:
                continue
            out.nodes[members[0]]["siblings"] = list(members)
            for other in members[1:]:
                out.nodes[other]["fused_into"] = members[0]
    return out.graph()

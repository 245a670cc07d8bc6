"""The backward pass as a diagram, in the paper's style.

The paper's section on backpropagation draws, for each box, its derivative
box, with the gradient wires running the other way (right to left) and each
gradient wire carrying the same axes as the forward wire it belongs to; a
learned box also yields the gradient of each of its weights.
:func:`backward_graph` builds that picture as an IR-shaped graph, which the
diagram draws like any other (right to left):

* every box of the forward graph becomes its derivative box (same node id,
  same op and frames, marked ``derivative``; titled ``∂L``, ``∂softmax``, …);
* every forward wire ``u → v`` with axes A becomes a gradient wire
  ``∂v → ∂u`` with axes A;
* a forward output becomes an input ``∂loss/∂name``; a float forward input
  becomes an output ``∂loss/∂name`` (an integer input has no gradient);
* each learned parameter of a box becomes an output ``∇ name`` with the
  parameter's axes.
"""

from __future__ import annotations

import networkx as nx

from ncdl.ir import topological


def backward_graph(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """The backward-pass diagram graph of the forward IR graph ``g`` (see the module doc)."""
    out = nx.MultiDiGraph()
    out.graph.update({k: v for k, v in g.graph.items() if k not in ("inputs", "outputs", "error")})
    out.graph["model"] = f"{g.graph.get('model', 'model')} (backward)"
    out.graph["inputs"], out.graph["outputs"] = [], []
    order = topological(g)
    keep = {n for n in order if not (g.nodes[n]["op"] == "input" and g.nodes[n].get("dtype") == "int64")}
    for n in reversed(order):
        if n not in keep:
            continue
        data = dict(g.nodes[n])
        op = data["op"]
        if op in ("input", "output"):
            flipped = "output" if op == "input" else "input"
            name = f"∂loss/∂{data['attrs']['name']}"
            attrs = {"name": name} if flipped == "output" else {"name": name, "of": None}
            out.add_node(n, **{**data, "op": flipped, "attrs": attrs, "name": name, "dtype": "float32"})
            out.graph["outputs" if flipped == "output" else "inputs"].append(n)
            continue
        out.add_node(n, **{**data, "derivative": True})
        for p in data.get("params") or []:
            if p.get("tied_to"):
                continue
            grad = f"grad {p['name']}"
            out.add_node(
                grad,
                op="output",
                name=f"∇ {p['name']}",
                axes=[a for a in p.get("axes", []) if a in g.graph.get("axes", {})],
                dtype="float32",
                attrs={"name": f"∇ {p['name']}"},
                params=[],
                frames=data.get("frames") or [],
                scope=data.get("scope", ""),
            )
            out.graph["outputs"].append(grad)
            out.add_edge(n, grad, port=0, axes=list(out.nodes[grad]["axes"]))
    for u, v, data in g.edges(data=True):
        if u in keep and v in keep:
            out.add_edge(v, u, **{k: val for k, val in data.items() if k != "error"})
    return out

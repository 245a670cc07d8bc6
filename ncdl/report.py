"""Plain-text summaries of a model's IR for ``ncdl check``.

Only the IR is read: no torch, no onnx.
"""

from __future__ import annotations

import networkx as nx

from ncdl import ir


def signature(g: nx.MultiDiGraph) -> str:
    """``GPT(tokens: int64[batch, seq] of vocab) -> [batch, seq, vocab]``; several or named
    results in parentheses, ``-> (hidden: [batch, seq, model], pooled: [batch, model])``."""
    args = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        of = f" of {data['attrs']['of']}" if data["attrs"].get("of") else ""
        dtype = "int" if data["dtype"] == "int64" else ""
        args.append(f"{data['attrs']['name']}: {dtype}[{', '.join(data['axes'])}]{of}")
    outs, named = [], False
    for node in g.graph["outputs"]:
        data = g.nodes[node]
        name = data["attrs"]["name"]
        label = "" if name == "output" or name.startswith("output_") else f"{name}: "
        named = named or bool(label)
        outs.append(f"{label}[{', '.join(data['axes'])}]")
    result = outs[0] if len(outs) == 1 and not named else "(" + ", ".join(outs) + ")"
    return f"{g.graph['model']}({', '.join(args)}) -> {result}"


def axis_table(g: nx.MultiDiGraph) -> list[str]:
    """One line per axis that a wire of the model carries."""
    used: list[str] = []
    for node in ir.topological(g):
        for a in g.nodes[node]["axes"]:
            if a not in used:
                used.append(a)
    width = max((len(a) for a in used), default=0)
    lines = []
    for name in used:
        axis = g.graph["axes"][name]
        if axis.fixed is not None:
            text = str(axis.fixed)
        else:
            text = f"free ({axis.size})" if str(axis.size) != name else "free"
            if axis.bound is not None:
                text += f", <= {axis.bound}"
        lines.append(f"  {name:<{width}}  {text}")
    return lines


def describe_model(g: nx.MultiDiGraph) -> str:
    """Signature, axis table and parameter table with the total count."""
    lines = [f"model {signature(g)}", "axes:"] + axis_table(g)
    params = [p for n in ir.topological(g) for p in g.nodes[n]["params"]]
    lines.append("parameters:")
    width = max((len(p["name"]) for p in params), default=0)
    for p in params:
        shape = "x".join(str(s) for s in p["shape"]) or "scalar"
        tied = f"  (tied to {p['tied_to']})" if p.get("tied_to") else ""
        lines.append(f"  {p['name']:<{width}}  [{', '.join(p['axes'])}]  {shape}{tied}")
    lines.append(f"total: {ir.param_count(g):,} parameters in {len(ir.all_params(g))} tensors")
    return "\n".join(lines)

"""Plain-text summaries of a model's IR for ``ncdl check``.

Only the IR is read: no torch, no onnx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from ncdl import ir

if TYPE_CHECKING:
    from ncdl.dsl import ast


def signature(g: nx.MultiDiGraph) -> str:
    """``GPT(tokens: int64[batch, seq] of vocab) -> [batch, seq, vocab]``; several or named
    results in parentheses, ``-> (hidden: [batch, seq, model], pooled: [batch, model])``."""
    args = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        of = f" of {data['attrs']['of']}" if data["attrs"].get("of") else ""
        dtype = {"int64": "int", "bool": "bool"}.get(data["dtype"], "")
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


def circuit_signature(decl: ast.CircuitDecl) -> str:
    """``Attention[query, key, head](q: [query, head], ...) -> [query, head]`` from the source."""
    from ncdl.dsl import ast

    params = []
    for p in decl.params:
        text = p.name + (f": {p.kind}" if p.kind else "")
        if isinstance(p.default, ast.Bool):
            text += f" = {str(p.default.value).lower()}"
        elif isinstance(p.default, ast.Number):
            text += f" = {p.default.value}"
        elif p.default is not None:
            text += f" = {_sexpr(p.default)}"
        params.append(text)
    brackets = f"[{', '.join(params)}]" if params else ""
    args = ", ".join(f"{a.name}: {_type(a.type)}{'?' * a.optional}" for a in decl.args)
    results = [f"{r.name}: {_type(r.type)}" if r.name else _type(r.type) for r in decl.results]
    result = results[0] if len(results) == 1 and not decl.results[0].name else f"({', '.join(results)})"
    return f"{decl.name}{brackets}({args}) -> {result}"


def _type(t: ast.TypeExpr) -> str:
    of = f" of {t.of}" if t.of else ""
    return f"{t.dtype if t.dtype in ('int', 'bool') else ''}[{', '.join(_sexpr(e) for e in t.axes)}]{of}"


def _sexpr(e: ast.SExpr, top: bool = True) -> str:
    from ncdl.dsl import ast

    if isinstance(e, ast.SName):
        return e.name
    if isinstance(e, ast.SInt):
        return str(e.value)
    text = f"{_sexpr(e.left, False)} {e.op} {_sexpr(e.right, False)}"
    return text if top else f"({text})"

"""HTML-like Graphviz labels: boxes, collapsed circuits, clusters, the legend.

Axis names inside labels are written in their wire's colour, so a box's
label shows which wires it acts on (``Σ head`` on a contraction, ``model →
heads head`` on a linear layer). Labels are returned with their ``<...>``
wrapper, which the graphviz package passes through unquoted.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

import networkx as nx

from ncdl.compiler.diagram.fold import Box, Frame
from ncdl.compiler.diagram.style import ERROR, UNKNOWN, size_text

SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "pow": "^", "neg": "−"}
TITLES = {
    "layernorm": "LayerNorm",
    "rmsnorm": "RMSNorm",
    "batchnorm": "BatchNorm",
    "sum": "Σ",
    "mean": "mean",
    "max": "max",
    "contract": "Σ",
}


def html(text: str) -> str:
    """Wrap HTML-like label text for the graphviz package.

    ``]`` is written as an entity: Graphviz 2.43's HTML lexer drops or
    rejects a literal ``]`` that ends a text run.
    """
    return "<" + text.replace("]", "&#93;") + ">"


def small(text: str, colour: str = "#555555") -> str:
    """Secondary text: smaller and grey."""
    return f'<FONT POINT-SIZE="9" COLOR="{colour}">{text}</FONT>'


def axis(name: str, colours: dict[str, str]) -> str:
    """An axis name in its wire's colour."""
    return f'<FONT COLOR="{colours.get(name, UNKNOWN)}">{escape(name)}</FONT>'


def axes(names: Iterable[str], colours: dict[str, str], sep: str = " ") -> str:
    """Several coloured axis names."""
    return sep.join(axis(n, colours) for n in names)


def count_text(n: int) -> str:
    """``1234567`` -> ``1.2M``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def _const(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else escape(str(value))


def _detail(node: dict[str, Any], colours: dict[str, str]) -> tuple[str, str]:
    """(title, detail) of an op box."""
    op, a = node.get("op", "?"), node.get("attrs") or {}
    if op in SYMBOLS:
        sym = SYMBOLS[op]
        const = a.get("const")
        if const is None:
            return sym, ""
        return (f"{_const(const)} {sym}" if a.get("const_left") else f"{sym} {_const(const)}"), ""
    if op == "linear":
        return ("L₊" if a.get("bias") else "L"), f"{axes(a.get('in', []), colours)} → {axes(a.get('out', []), colours)}"
    if op == "embed":
        return "E", f"{axis(a.get('vocab', '?'), colours)} → {axes(a.get('out', []), colours)}"
    if op == "param":
        return "param", axes(node.get("axes", []), colours)
    if op in ("layernorm", "rmsnorm", "sum", "mean", "max", "contract"):
        return TITLES[op], axes(a.get("over", a.get("axes", [])), colours)
    if op == "batchnorm":
        return TITLES[op], axis(a.get("axis", "?"), colours)
    if op in ("softmax", "logsoftmax", "select"):
        extra = f" = {a['index']}" if op == "select" else ""
        return op, axis(a.get("axis", "?"), colours) + extra
    if op == "causal":
        return "causal", axes([a.get("query", "?"), a.get("key", "?")], colours, ", ")
    if op == "rename":
        return "rename", ", ".join(f"{axis(k, colours)} → {axis(v, colours)}" for k, v in a.get("map", {}).items())
    if op == "split":
        return "split", f"{axis(a.get('axis', '?'), colours)} → {axes(a.get('into', []), colours)}"
    if op == "merge":
        return "merge", f"{axes(a.get('axes', []), colours)} → {axis(a.get('into', '?'), colours)}"
    if op == "concat":
        return "concat", f"{axes(a.get('axes', []), colours, ' | ')} → {axis(a.get('into', '?'), colours)}"
    if op == "transpose":
        return "transpose", axes(node.get("axes", []), colours)
    if op == "dropout":
        return "dropout", f"p={_const(a.get('p', '?'))}"
    if op == "conv":
        title = "Conv" + ("ᵀ" if a.get("transposed") else "")
        spatial = ", ".join(f"{axis(i, colours)}→{axis(o, colours)}" for i, o in a.get("spatial", []))
        kernel = "×".join(str(k) for k in a.get("kernel", []))
        stride = "×".join(str(s) for s in a.get("stride", []))
        return (
            title,
            f"{axis(a.get('in', '?'), colours)} → {axis(a.get('out', '?'), colours)} · {spatial}<BR/>{small(f'kernel {kernel} stride {stride}')}",
        )
    if op in ("maxpool", "avgpool", "upsample"):
        spatial = ", ".join(f"{axis(i, colours)}→{axis(o, colours)}" for i, o in a.get("spatial", []))
        sizes = a.get("kernel", a.get("scale", []))
        return op, f"{spatial} {small('×'.join(str(k) for k in sizes))}"
    return op, ""


def tensor_type(names: list[str], colours: dict[str, str], dtype: str = "float32", of: str | None = None) -> str:
    """``int[batch, seq] of vocab`` with coloured axes."""
    prefix = "int" if dtype == "int64" else ""
    text = f"{prefix}[{axes(names, colours, ', ')}]"
    return text + (f" of {axis(of, colours)}" if of else "")


def params_text(node: dict[str, Any]) -> str:
    """One small line per parameter: ``weight 512×128`` or ``weight = tok.weight``."""
    lines = []
    for p in node.get("params") or []:
        if p.get("tied_to"):
            lines.append(f"{escape(p['key'])} = {escape(p['tied_to'])}")
        else:
            shape = "×".join(str(s) for s in p.get("shape", [])) or "scalar"
            lines.append(f"{escape(p['key'])} {shape}")
    return small(" · ".join(lines)) if lines else ""


def node_label(node: dict[str, Any], colours: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The label and shape attributes of one visible IR node."""
    op = node.get("op", "?")
    if op in ("input", "output"):
        a = node.get("attrs") or {}
        name = escape(str(a.get("name") or node.get("name", op)))
        text = f"<B>{name}</B><BR/>{tensor_type(node.get('axes', []), colours, node.get('dtype', ''), a.get('of'))}"
        return html(text), {"shape": "box", "style": "rounded,filled", "fillcolor": "#f2f2f2", "color": "#888888"}
    title, detail = _detail(node, colours)
    learned = bool(node.get("params"))
    if op in SYMBOLS or (op not in TITLES and not detail and not learned):
        return html(escape(title) if op not in SYMBOLS else title), {"shape": "ellipse", "margin": "0.05,0.02"}
    text = f"<B>{escape(title)}</B>" if learned else escape(title)
    if detail:
        text += f" {detail}"
    if learned:
        text += "<BR/>" + params_text(node)
        return html(text), {"shape": "box", "style": "bold", "penwidth": "2.5"}
    return html(text), {"shape": "box", "style": "rounded"}


def box_label(box: Box) -> tuple[str, dict[str, str]]:
    """The label and attributes of a collapsed circuit or repeat."""
    name = escape(box.circuit or ("repeat" if box.frame.is_repeat else box.frame.path))
    text = f"<B>{name}</B>"
    if box.count is not None:
        text += f" ×{box.count}"
    text += "<BR/>" + small(escape(box.frame.path) + (f" · {count_text(box.params)} params" if box.params else ""))
    attrs = {"shape": "box", "peripheries": "2", "style": "bold" if box.params else "solid"}
    if box.params:
        attrs["penwidth"] = "2"
    return html(text), attrs


def cluster_label(frame: Frame, counts: dict[str, int], bodies: dict[str, str], folded: bool) -> str:
    """A cluster's title: circuit name, ×N for a repeat, and the instance path.

    A folded repeat is titled with the circuit each iteration calls
    (``Block ×48``); an unfolded one just ``repeat ×48`` above its iterations.
    """
    if frame.is_repeat:
        name = (bodies.get(frame.path) if folded else "") or "repeat"
        title = f"<B>{escape(name)}</B> ×{counts.get(frame.path, '?')}"
    else:
        title = f"<B>{escape(frame.circuit or 'iteration')}</B>"
    return html(f"{title}  {small(escape(frame.path))}")


def legend_label(g: nx.MultiDiGraph, colours: dict[str, str]) -> str:
    """A table of every axis: colour swatch, name, size; and the two wire styles."""
    rows = ['<TR><TD COLSPAN="3" ALIGN="LEFT"><B>axes</B></TD></TR>']
    for name, ax in g.graph.get("axes", {}).items():
        rows.append(
            f'<TR><TD BGCOLOR="{colours[name]}" FIXEDSIZE="TRUE" WIDTH="14" HEIGHT="12"></TD>'
            f'<TD ALIGN="LEFT">{axis(name, colours)}</TD><TD ALIGN="LEFT">{escape(size_text(ax))}</TD></TR>'
        )
    rows.append(f'<TR><TD COLSPAN="3" ALIGN="LEFT">{small("solid: the box acts on the wire")}</TD></TR>')
    rows.append(f'<TR><TD COLSPAN="3" ALIGN="LEFT">{small("dashed, faint: the wire passes by (broadcast)")}</TD></TR>')
    table = (
        '<TABLE BORDER="1" COLOR="#aaaaaa" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>"
    )
    return html(table)


def error_label(message: str) -> str:
    """The red note that carries the error message."""
    return html(f'<FONT COLOR="{ERROR}"><B>error</B><BR/>{escape(message)}</FONT>')

"""HTML-like Graphviz labels: boxes, collapsed circuits, clusters, the legend.

Axis names inside labels are written in their wire's colour, so a box's
label shows which wires it acts on (``Σ head`` on a contraction, ``model →
heads head`` on a linear layer). Labels are returned with their ``<...>``
wrapper, which the graphviz package passes through unquoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

import networkx as nx

from ncdl.compiler.diagram.fold import Box, Frame
from ncdl.compiler.diagram.style import ERROR, UNKNOWN, size_text
from ncdl.ir import OPS


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


def _pairs(pairs: list[list[str]], colours: dict[str, str]) -> str:
    return ", ".join(f"{axis(i, colours)}→{axis(o, colours)}" for i, o in pairs)


Detail = Callable[[dict[str, Any], dict[str, Any], dict[str, str]], str]
"""The words after a box's title: (node, its attrs, axis colours) -> HTML-like text."""


def _no_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    return ""


def _port_label(node: dict[str, Any], colours: dict[str, str]) -> str:
    a = node["attrs"]
    name = escape(str(a["name"] or node.get("name", node["op"])))
    of = a["of"] if "of" in a else None
    return f"<B>{name}</B><BR/>{tensor_type(node['axes'], colours, node.get('dtype', ''), of)}"


def _operator_label(node: dict[str, Any], colours: dict[str, str]) -> str:
    sym, a = escape(OPS[node["op"]].title), node["attrs"]
    const = a["const"] if "const" in a else None
    if const is None:
        return sym
    return f"{_const(const)} {sym}" if a["const_left"] else f"{sym} {_const(const)}"


def _learned_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    if "vocab" in a:  # an embedding: index axis -> feature axes
        return f"{axis(a['vocab'], colours)} → {axes(a['out'], colours)}"
    if "in" in a:
        return f"{axes(a['in'], colours)} → {axes(a['out'], colours)}"
    return axes(node["axes"], colours)  # a parameter: its own axes


def _norm_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    return axes(a["axes"], colours) if "axes" in a else axis(a["axis"], colours)


def _conv_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    kernel = "×".join(str(k) for k in a["kernel"])
    stride = "×".join(str(s) for s in a["stride"])
    head = f"{axis(a['in'], colours)} → {axis(a['out'], colours)} · {_pairs(a['spatial'], colours)}"
    return f"{head}<BR/>{small(f'kernel {kernel} stride {stride}')}"


def _pool_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    window = a["kernel"] if "kernel" in a else a["scale"]  # pooling has a kernel, upsampling a scale
    return f"{_pairs(a['spatial'], colours)} {small('×'.join(str(k) for k in window))}"


#: The detail of each wiring op: what moves where.
_WIRING_DETAILS: dict[str, Detail] = {
    "rename": lambda n, a, c: ", ".join(f"{axis(k, c)} → {axis(v, c)}" for k, v in a["map"].items()),
    "transpose": lambda n, a, c: axes(n["axes"], c),
    "split": lambda n, a, c: f"{axis(a['axis'], c)} → {axes(a['into'], c)}",
    "merge": lambda n, a, c: f"{axes(a['axes'], c)} → {axis(a['into'], c)}",
    "concat": lambda n, a, c: f"{axes(a['axes'], c, ' | ')} → {axis(a['into'], c)}",
    "select": lambda n, a, c: f"{axis(a['axis'], c)} = {a['index']}",
    "positions": lambda n, a, c: axis(a["axis"], c),
    "slice": lambda n, a, c: f"{axis(a['axis'], c)}[{_slice_text(a)}] → {axis(a['into'], c)}",
    "flip": lambda n, a, c: axes(a["axes"], c),
    "roll": lambda n, a, c: f"{axis(a['axis'], c)} by {a['shift']}",
    "pad": lambda n, a, c: f"{a['before']} | {axis(a['axis'], c)} | {a['after']} → {axis(a['into'], c)} ({a['mode']})",
}


def _slice_text(a: dict[str, Any]) -> str:
    stop = "" if a["stop"] is None else a["stop"]
    return f"{a['start']}:{stop}" + (f":{a['step']}" if a["step"] != 1 else "")


@dataclass(frozen=True)
class Drawing:
    """How the diagram draws one glyph kind (a key of :data:`ncdl.ir.ops.GLYPHS`).

    ``label``, when set, draws the whole label (ports and operators); otherwise
    the label is the op's registry title (bold for a box with parameters) and
    ``detail``. ``shape`` is ``"box"`` (always a box), ``"symbol"`` (always a
    small ellipse) or ``"auto"`` (an ellipse when there is neither detail nor
    parameters); ``attrs`` replace the computed shape attributes.
    """

    detail: Detail = _no_detail
    shape: str = "auto"
    label: Callable[[dict[str, Any], dict[str, str]], str] | None = None
    attrs: dict[str, str] | None = None


_PORT = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f2f2f2", "color": "#888888"}
_SYMBOL = {"shape": "ellipse", "margin": "0.05,0.02"}
_LEARNED = {"shape": "box", "style": "bold", "penwidth": "2.5"}
_PLAIN = {"shape": "box", "style": "rounded"}

#: How to draw each glyph kind of the op registry.
GLYPH_DRAWINGS: dict[str, Drawing] = {
    "port": Drawing(label=_port_label, attrs=_PORT),
    "learned": Drawing(_learned_detail),
    "operator": Drawing(shape="symbol", label=_operator_label),
    "function": Drawing(),
    "softmax": Drawing(lambda n, a, c: axis(a["axis"], c)),
    "cup": Drawing(lambda n, a, c: axes(a["over"], c), shape="box"),
    "norm": Drawing(_norm_detail, shape="box"),
    "reduce": Drawing(lambda n, a, c: axes(a["axes"], c), shape="box"),
    "mask": Drawing(lambda n, a, c: axes(a["axes"] if "axes" in a else [a["query"], a["key"]], c, ", ")),
    "wiring": Drawing(lambda n, a, c: _WIRING_DETAILS[n["op"]](n, a, c)),
    "conv": Drawing(_conv_detail),
    "pool": Drawing(_pool_detail),
    "dropout": Drawing(lambda n, a, c: f"p={_const(a['p'])}"),
    "scan": Drawing(lambda n, a, c: axis(a["axis"], c), shape="box"),
    "route": Drawing(
        lambda n, a, c: axis(a["axis"], c) + (f" → {axis(a['into'], c)}" if "into" in a else ""), shape="box"
    ),
}


def _title(node: dict[str, Any]) -> str:
    """The op's registry title, marked for a transposed convolution (ᵀ) or a linear map with bias (₊)."""
    op, a = OPS[node["op"]], node["attrs"]
    if "transposed" in a and a["transposed"]:
        return op.title + "ᵀ"
    if op.glyph == "learned" and "bias" in a and a["bias"]:
        return op.title + "₊"
    return op.title


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
    """The label and shape attributes of one visible IR node, drawn by its op's glyph."""
    drawing = GLYPH_DRAWINGS[OPS[node["op"]].glyph]
    if drawing.label is not None:
        return html(drawing.label(node, colours)), dict(drawing.attrs or _SYMBOL)
    title, detail = _title(node), drawing.detail(node, node["attrs"], colours)
    learned = bool(node.get("params"))
    if drawing.shape == "symbol" or (drawing.shape == "auto" and not detail and not learned):
        return html(escape(title)), dict(_SYMBOL)
    text = f"<B>{escape(title)}</B>" if learned else escape(title)
    if detail:
        text += f" {detail}"
    if learned:
        text += "<BR/>" + params_text(node)
        return html(text), dict(_LEARNED)
    return html(text), dict(_PLAIN)


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

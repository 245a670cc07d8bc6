"""HTML-like Graphviz labels: boxes, collapsed circuits, clusters, the legend.

Axis names inside labels are written in their wire's colour, so a box's
label shows which wires it acts on (``Σ head`` on a contraction, ``model →
heads head`` on a linear layer). Labels are returned with their ``<...>``
wrapper, which the graphviz package passes through unquoted.
"""

from __future__ import annotations

import functools
import re
import textwrap
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


@functools.lru_cache(maxsize=4096)
def simplified(name: str) -> str:
    """A derived axis name with its constant factors folded: ``y/2/2`` -> ``y/4``, ``2*2*w`` -> ``4·w``."""
    while True:
        folded = re.sub(r"/(\d+)/(\d+)", lambda m: f"/{int(m[1]) * int(m[2])}", name)
        folded = re.sub(r"(?<![\w/])(\d+)\*(\d+)\*", lambda m: f"{int(m[1]) * int(m[2])}*", folded)
        if folded == name:
            return name.replace("*", "·")
        name = folded


def shown(name: str) -> str:
    """An axis name as the diagram writes it: simplified (:func:`simplified`) and escaped."""
    return escape(simplified(name))


def axis(name: str, colours: dict[str, str]) -> str:
    """An axis name in its wire's colour."""
    return f'<FONT COLOR="{colours.get(name, UNKNOWN)}">{shown(name)}</FONT>'


def axes(names: Iterable[str], colours: dict[str, str], sep: str = " ") -> str:
    """Several coloured axis names."""
    return sep.join(axis(n, colours) for n in names)


def count_text(n: int) -> str:
    """``1234567`` -> ``1.2M``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def byte_text(n: int) -> str:
    """``65536`` -> ``64 KiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


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
    of = a["of"] if "of" in a else None
    kind = tensor_type(node["axes"], colours, node.get("dtype", ""), of)
    if a["name"] == "":  # a definition panel's port: the type is all it has
        return kind
    name = escape(str(a["name"] or node.get("name", node["op"])))
    return f"<B>{name}</B><BR/>{kind}"


def _operator_label(node: dict[str, Any], colours: dict[str, str]) -> str:
    sym, a = escape(OPS[node["op"]].title), node["attrs"]
    sym = "∂" + sym if node.get("derivative") else sym
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
    """The axes the statistics are taken over: a layer norm's own, all but a batch norm's channel."""
    if "axes" in a:
        return axes(a["axes"], colours)
    return "over " + axes([x for x in node["axes"] if x != a["axis"]], colours)


def _conv_detail(node: dict[str, Any], a: dict[str, Any], colours: dict[str, str]) -> str:
    """The paper's ``★ k`` with ``/s`` for a stride, then the channel map."""
    kernel = "×".join(str(k) for k in dict.fromkeys(a["kernel"]))
    stride = "×".join(str(s) for s in dict.fromkeys(a["stride"]))
    star = f"★{kernel}" + (f" /{stride}" if stride != "1" else "")
    channels = f"{axis(a['in'], colours)}→{axis(a['out'], colours)}"
    return f"{escape(star)}<BR/>{small(channels)}"


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
    small ellipse), ``"auto"`` (an ellipse when there is neither detail nor
    parameters) or ``"glyph"`` (the paper's shape, given by ``attrs``, with
    the title small above the detail); ``attrs`` replace the computed shape
    attributes.
    """

    detail: Detail = _no_detail
    shape: str = "auto"
    label: Callable[[dict[str, Any], dict[str, str]], str] | None = None
    attrs: dict[str, str] | None = None


_PORT = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f2f2f2", "color": "#888888"}
_SYMBOL = {"shape": "ellipse", "margin": "0.05,0.02"}
_LEARNED = {"shape": "box", "style": "bold", "penwidth": "2.5"}
_PLAIN = {"shape": "box", "style": "rounded"}
#: The paper's shapes, in a left-to-right diagram.
_TRIANGLE = {"shape": "triangle", "orientation": "90", "margin": "0", "fillcolor": "#e8f4e8", "style": "filled"}
#: The contraction cup: a half disc open to the left, where the contracted wires end (painted per axis
#: by :func:`cup_paint`; Graphviz has no open arc shape, and a ``wedged`` circle is the nearest it draws).
_CUP = {"shape": "circle", "style": "wedged", "penwidth": "0", "width": "0.24", "fixedsize": "true"}
_CIRCLE = {"shape": "circle", "margin": "0", "penwidth": "1.6", "width": "0.3"}
_TRAPEZOID = {
    "shape": "trapezium",
    "orientation": "270",
    "margin": "0.02",
    "fillcolor": "#d6ecfa",
    "style": "filled,bold",
}

#: How to draw each glyph kind of the op registry.
GLYPH_DRAWINGS: dict[str, Drawing] = {
    "port": Drawing(label=_port_label, attrs=_PORT),
    "learned": Drawing(_learned_detail),
    "operator": Drawing(shape="symbol", label=_operator_label),
    "function": Drawing(),
    "softmax": Drawing(lambda n, a, c: axis(a["axis"], c), shape="glyph", attrs=_TRIANGLE),
    "cup": Drawing(lambda n, a, c: axes(a["over"], c), shape="glyph", attrs=_CUP),
    "norm": Drawing(_norm_detail, shape="glyph", attrs=_CIRCLE),
    "reduce": Drawing(lambda n, a, c: axes(a["axes"], c), shape="box"),
    "mask": Drawing(lambda n, a, c: axes(a["axes"] if "axes" in a else [a["query"], a["key"]], c, ", ")),
    "wiring": Drawing(lambda n, a, c: _WIRING_DETAILS[n["op"]](n, a, c)),
    "conv": Drawing(_conv_detail, shape="glyph", attrs=_TRAPEZOID),
    "pool": Drawing(_pool_detail),
    "dropout": Drawing(lambda n, a, c: f"p={_const(a['p'])}"),
    "scan": Drawing(lambda n, a, c: axis(a["axis"], c), shape="box"),
    "route": Drawing(
        lambda n, a, c: axis(a["axis"], c) + (f" → {axis(a['into'], c)}" if "into" in a else ""), shape="box"
    ),
}


def _title(node: dict[str, Any]) -> str:
    """The op's registry title, marked for a transposed convolution (ᵀ) or a linear map with bias (₊);
    ``∂`` before it for a box of the backward pass."""
    mark = "∂" if node.get("derivative") else ""
    return mark + _plain_title(node)


def _plain_title(node: dict[str, Any]) -> str:
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
    """The parameters, plain text: ``weight 512×128 · bias 512`` or ``weight = tok.weight``."""
    lines = []
    for p in node.get("params") or []:
        if p.get("tied_to"):
            lines.append(f"{escape(p['key'])} = {escape(p['tied_to'])}")
        else:
            shape = "×".join(str(s) for s in p.get("shape", [])) or "scalar"
            lines.append(f"{escape(p['key'])} {shape}")
    return " · ".join(lines)


def node_label(node: dict[str, Any], colours: dict[str, str], scale: str | None = None) -> tuple[str, dict[str, str]]:
    """The label and shape attributes of one visible IR node, drawn by its op's glyph.

    ``scale``, when given, replaces an operator's constant with its symbolic
    form (``× k^−½`` for ``÷ 4.0`` when ``k`` has size 16).
    """
    drawing = GLYPH_DRAWINGS[OPS[node["op"]].glyph]
    if scale is not None and OPS[node["op"]].glyph == "operator":
        return html(scale), dict(_SYMBOL)
    if drawing.label is not None:
        return html(drawing.label(node, colours)), dict(drawing.attrs or _SYMBOL)
    title, detail = _title(node), drawing.detail(node, node["attrs"], colours)
    learned = bool(node.get("params"))
    if drawing.shape == "glyph":  # the paper's shape holds the detail; the title sits beside it
        attrs = dict(drawing.attrs or _PLAIN)
        name = small(f"<B>{escape(title)}</B>" if learned else escape(title), "#333333")
        if learned:
            attrs["penwidth"] = "2.5"
        if OPS[node["op"]].glyph == "cup":  # the cup is the wires joining: painted in their colours
            attrs["fillcolor"] = cup_paint([colours.get(a, UNKNOWN) for a in node["attrs"]["over"]])
            attrs["xlabel"] = html(f"{name} {small(detail, '#000000')}" if detail else name)
            return html(" "), attrs
        if attrs["shape"] == "circle":  # a norm's circle stays small: what it normalises over goes beside it
            attrs["xlabel"] = html(f"{name}<BR/>{small(detail, '#000000')}" if detail else name)
            return html(" "), attrs
        attrs["xlabel"] = html(name)
        return html(small(detail, "#000000") if detail else " "), attrs
    if drawing.shape == "symbol" or (drawing.shape == "auto" and not detail and not learned):
        return html(escape(title)), dict(_SYMBOL)
    text = f"<B>{escape(title)}</B>" if learned else escape(title)
    if OPS[node["op"]].glyph == "learned":
        text += _role(node)
    if detail:
        text += f" {detail}"
    if learned:  # the weights' shapes are in the tooltip (see params_text), as the paper leaves them out
        return html(text), dict(_LEARNED)
    return html(text), dict(_PLAIN)


def cup_paint(colours: list[str]) -> str:
    """The ``fillcolor`` of a contraction cup: the right half of a ``wedged`` circle, one band per
    contracted axis (top to bottom), the left half transparent.

    Graphviz paints wedges counter-clockwise from 3 o'clock, each a fraction of the turn.
    """
    if not colours:
        colours = [UNKNOWN]
    band = 180.0 / len(colours)
    pieces: list[tuple[float, float, str]] = [(90.0, 270.0, "transparent")]
    for i, colour in enumerate(reversed(colours)):  # from 6 o'clock up to 12 o'clock
        start, end = 270.0 + i * band, 270.0 + (i + 1) * band
        for lo, hi in ((start, min(end, 360.0)), (max(start, 360.0) - 360.0, end - 360.0)):
            if hi > lo:
                pieces.append((lo, hi, colour))
    return ":".join(f"{c};{(hi - lo) / 360:.4f}" for lo, hi, c in sorted(pieces))


def _role(node: dict[str, Any]) -> str:
    """The paper's role superscript of a learned map: ``as q`` -> L^Q (nothing for a default name)."""
    name = str(node.get("name") or "")
    if not name or name == node["op"]:
        return ""
    role = name.upper() if len(name) <= 2 else name
    return f"<SUP>{escape(role)}</SUP>"


def call_text(name: str, args: dict[str, Any] | None) -> str:
    """``BasicBlock(stride=2)``: a circuit with the integer parameters of its call (HTML-escaped)."""
    inner = ", ".join(f"{k}={v}" for k, v in (args or {}).items())
    return escape(f"{name}({inner})" if inner else name)


def box_label(box: Box, args: dict[str, Any] | None = None, short: bool = False) -> tuple[str, dict[str, str]]:
    """The label and attributes of a collapsed circuit or repeat (with its call's parameters);
    ``short``: only the last part of its instance path (``down`` for ``unet.inner.down``)."""
    name = box.circuit or ("repeat" if box.frame.is_repeat else box.frame.path)
    text = f"<B>{call_text(name, args)}</B>"
    if box.count is not None:
        text += f" ×{box.count}"
    path = box.frame.path.rsplit(".", 1)[-1] if short else box.frame.path
    text += "<BR/>" + small(escape(path) + (f" · {count_text(box.params)} params" if box.params else ""))
    attrs = {"shape": "box3d" if box.params else "box", "style": "bold" if box.params else "solid"}
    if box.params:
        # box3d draws its depth inside the node's outline: room above the title keeps that edge off it
        attrs.update(penwidth="2", margin="0.08,0.07")
    return html(text), attrs


def panel_title(name: str, args: dict[str, Any] | None) -> str:
    """A definition panel's title: ``Block(…) =``, as the paper writes a circuit's definition."""
    return html(f"<B>{call_text(name, args)} =</B>")


def wire_label(names: list[str], colours: dict[str, str], table: dict[str, Any], mode: str) -> str | None:
    """A wire's label: its axes' names, sizes, or ``name size`` (None for ``mode="none"``)."""
    if mode == "none" or not names:
        return None
    parts = []
    for n in names:
        size = str(table[n].size) if n in table else "?"
        text = {"names": shown(n), "sizes": shown(size), "both": f"{shown(n)} {shown(size)}"}[mode]
        if mode == "both" and size == n:
            text = shown(n)
        parts.append(f'<FONT COLOR="{colours.get(n, UNKNOWN)}">{text}</FONT>')
    return html(f'<FONT POINT-SIZE="9">{" ".join(parts)}</FONT>')


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


def legend_label(g: nx.MultiDiGraph, colours: dict[str, str], visible: set[str] | None = None) -> str:
    """A compact table of the visible axes: swatch, name and size, three to a row."""
    table = g.graph.get("axes", {})
    names = [n for n in table if visible is None or n in visible]
    cells = [
        f'<TD BGCOLOR="{colours[n]}" FIXEDSIZE="TRUE" WIDTH="10" HEIGHT="10"></TD>'
        f'<TD ALIGN="LEFT">{axis(n, colours)}</TD><TD ALIGN="LEFT">{escape(size_text(table[n]))}</TD>'
        for n in names
    ]
    per_row = 3
    rows = [
        f'<TR><TD COLSPAN="{3 * per_row}" ALIGN="LEFT"><B>axes</B> '
        + small("thick: the box acts on the wire · thin: it passes by")
        + "</TD></TR>"
    ]
    for i in range(0, len(cells), per_row):
        rows.append("<TR>" + "".join(cells[i : i + per_row]) + "</TR>")
    body = "".join(rows)
    return html(f'<TABLE BORDER="1" COLOR="#aaaaaa" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">{body}</TABLE>')


def error_label(message: str) -> str:
    """The red note that carries the error message."""
    lines = [escape(part) for line in message.splitlines() for part in textwrap.wrap(line, 64) or [""]]
    body = '<BR ALIGN="LEFT"/>'.join(lines)
    return html(f'<FONT COLOR="{ERROR}"><B>error</B><BR/>{body}</FONT>')

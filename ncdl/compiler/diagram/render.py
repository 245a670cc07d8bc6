"""Draw an IR graph with fixed options: sections, rows, blocks (see the package docstring).

:func:`ncdl.compiler.diagram.view.render` chooses the options (the page-fitting
default) and calls :func:`draw` / :func:`blocks` here.

A diagram is a stack of *sections*, read top to bottom: the model itself,
then one definition panel per circuit drawn as a box (:mod:`.panels`). A
section whose chain is wider than the page wraps into *rows* (:mod:`.view`
decides where); a wire that wraps leaves its row at a numbered stub ``→ 1``
and comes back at ``1 →``. Each row is a block that ``dot`` lays out on its
own; :mod:`.scene` stacks the blocks into one placed graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

import networkx as nx

from ncdl.compiler.diagram import labels
from ncdl.compiler.diagram.fold import BOX_PREFIX, Frame, Plan, plan
from ncdl.compiler.diagram.panels import instance_graph
from ncdl.compiler.diagram.scene import Block, Diagram, Placed, compose, lay_out
from ncdl.compiler.diagram.style import (
    ERROR,
    FONT,
    PASSING_ALPHA,
    PASSING_WIDTH,
    UNKNOWN,
    WIRE_WIDTH,
    axis_colours,
)
from ncdl.compiler.diagram.ushape import u_plan
from ncdl.compiler.diagram.wires import named_axes
from ncdl.ir import OPS, topological

#: Reading directions Graphviz accepts.
SIDES = {"LR": "n", "RL": "n", "TB": "w", "BT": "w"}
LEGEND = "legend"
#: The most definition panels one circuit gets, one per set of integer parameters (a stride-2 block).
VARIANTS = 2
#: The SVG class of a wire that passes a box by (broadcast): thin, pale, continuous.
PASSING = "passing"
ERROR_NOTE = "error"
#: How a wire is labelled: axis names, sizes, or both.
LABEL_MODES = ("names", "sizes", "both", "none")


@dataclass
class Section:
    """The model or one definition panel: a graph, its fold plan, and its node-id prefix."""

    key: str  # "" for the model, the circuit name for a panel
    g: nx.MultiDiGraph
    layout: Plan
    prefix: str = ""
    title: str = ""
    rows: dict[str, int] = field(default_factory=dict)  # top-level item -> row (absent: row 0)
    wires: list[tuple[str, str, dict[str, Any]]] | None = None  # computed once (see _section_wires)
    fanout: dict[str, set[str]] = field(default_factory=dict)

    def id(self, unit: str) -> str:
        """The Graphviz node id of a visible unit of this section."""
        return self.prefix + unit

    def cluster(self, path: str) -> str:
        """The Graphviz name of the cluster of an instance path."""
        return "cluster " + self.prefix + path

    def item(self, unit: str) -> str:
        """The top-level item a visible unit belongs to (a Graphviz name): its outermost cluster, or itself."""
        chain = self.layout.boxes[unit].clusters if unit in self.layout.boxes else self.layout.shown.get(unit, ())
        return self.cluster(chain[0].path) if chain else self.id(unit)

    def row(self, unit: str) -> int:
        """The row a visible unit is drawn in."""
        return self.rows.get(self.item(unit), 0)


@dataclass(frozen=True)
class Options:
    """Everything :func:`draw` needs besides the graph."""

    depth: int | None = None
    expand: tuple[str, ...] = ()
    panels: bool = False
    rankdir: str = "LR"
    labels: str = "names"
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # section key -> item -> row
    cost: dict[str, str] = field(default_factory=dict)  # IR node -> cost text
    u: bool = False  # the model's recursive circuit drawn as a U (:mod:`.ushape`)
    #: Sections already planned, by (depth, expand, panels): shared by every copy of these options.
    memo: dict[tuple, list[Section]] = field(default_factory=dict, compare=False, repr=False)


class PageWarning(UserWarning):
    """A diagram larger than a page; the message says which options keep it readable."""


def cost_texts(g: nx.MultiDiGraph) -> dict[str, str]:
    """``node -> "1.2M FLOPs · 64 kB"`` from the stats report; the largest activation is marked.

    Free axes take their bound (or 1, for an unbounded one such as ``batch``).
    """
    from ncdl.compiler.stats import stats

    axes = g.graph.get("axes", {})
    roots = sorted({s for a in axes.values() for s in a.size.symbols()})
    report = stats(g, {r: (axes[r].bound or 1) if r in axes else 1 for r in roots if r in axes})
    costs = {
        b["node"]: (b["flops"], b["activation_bytes"])
        for b in report["boxes"]
        if isinstance(b["flops"], int) and isinstance(b["activation_bytes"], int)
    }
    if not costs:
        return {}
    largest = max(costs, key=lambda n: costs[n][1])
    out = {}
    for n, (flops, nbytes) in costs.items():
        text = f"{labels.count_text(flops)} FLOPs · {labels.byte_text(nbytes)}"
        out[n] = text + (" · largest activation" if n == largest and nbytes else "")
    return out


def sections(g: nx.MultiDiGraph, options: Options) -> list[Section]:
    """The model and, with panels, one section per circuit drawn as a box (each once)."""
    main = Section("", g, plan(g, options.depth, options.expand))
    out = [main]
    if not options.panels:
        return out
    seen: set[str] = set()
    variants: dict[str, int] = {}
    queue = [main]
    while queue:
        section = queue.pop(0)
        for box in section.layout.boxes.values():
            name = box.circuit or box.frame.path
            path = _instance_path(section.g, box.frame)
            args = section.g.graph.get("circuit_args", {}).get(path)
            key = labels.call_text(name, args)  # one panel per circuit and integer parameters,
            variants[name] = variants.get(name, 0) + (key not in seen)
            if key in seen or variants[name] > VARIANTS:  # up to VARIANTS of them
                continue
            seen.add(key)
            sub = instance_graph(section.g, path)
            panel = Section(key, sub, plan(sub, 0), prefix=f"{key}/ ", title=labels.panel_title(name, args))
            out.append(panel)
            queue.append(panel)
    return out


def _instance_path(g: nx.MultiDiGraph, frame: Frame) -> str:
    """The instance a panel draws: the circuit itself, or iteration 0 of a repeat."""
    if not frame.is_repeat:
        return frame.path
    for n in topological(g):
        raw = [f[0] for f in g.nodes[n].get("frames") or []]
        if frame.path in raw:
            i = raw.index(frame.path)
            return raw[i + 1] if i + 1 < len(raw) else frame.path
    return frame.path


GRAPH_ATTR = {"fontname": FONT, "nodesep": "0.2", "ranksep": "0.35", "newrank": "true", "labeljust": "l"}
NODE_ATTR = {"fontname": FONT, "fontsize": "11", "margin": "0.08,0.03", "height": "0.3"}
EDGE_ATTR = {"arrowsize": "0.6", "fontname": FONT, "fontsize": "10"}


@dataclass
class Drawn:
    """A diagram in blocks (rows of sections, legend, error note), before stacking."""

    sections: list[Section]
    blocks: dict[str, list[Block]]  # section key -> one block per row
    extra: list[Block]  # the legend, the error note
    loose: list[tuple[str, str, dict[str, str]]]  # edges between blocks (to the error note)


def blocks(g: nx.MultiDiGraph, options: Options) -> Drawn:
    """Every block of the diagram of ``g`` with fixed options (rows from ``options.rows``)."""
    key = (options.depth, options.expand, options.panels, options.u)
    if key not in options.memo:
        options.memo[key] = sections(g, options)
    parts = options.memo[key]
    for section in parts:
        section.rows = options.rows.get(section.key, {})
    visible = {a for s in parts for a in _visible_axes(s)}
    colours = axis_colours(g, visible)
    out: dict[str, list[Block]] = {}
    error_heads: list[str] = []
    loose: list[tuple[str, str, dict[str, str]]] = []
    for section in parts:
        rows = [Block() for _ in range(max(section.rows.values(), default=0) + 1)]
        outer: tuple[str, ...] = ()
        if section.key:
            name = "cluster panel " + section.key
            outer = (name,)
            for i, row in enumerate(rows):
                row.clusters[name] = {
                    "label": section.title if i == 0 else "",
                    "style": "rounded",
                    "color": "#bbbbbb",
                    "fontsize": "11",
                    "bgcolor": "#fcfcfc",
                }
        _nodes(rows, outer, section, colours, options, g)
        error_heads += _edges(rows, section, colours, options, loose)
        if options.u and not section.key and len(rows) == 1:
            _as_u(rows[0], section)
        out[section.key] = rows
    legend = Block()
    legend.node(LEGEND, labels.legend_label(g, colours, visible), {"shape": "plain"})
    extra = [legend]
    error = g.graph.get("error")
    if error:
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        note = Block()
        note.node(ERROR_NOTE, labels.error_label(message), {"shape": "note", "color": ERROR, "penwidth": "2"})
        extra.insert(0, note)
        if not error_heads:  # a mistake found after the last box (a circuit's result): anchor on that box
            last = [parts[0].layout.unit[n] for n in topological(parts[0].g) if n in parts[0].layout.unit]
            error_heads = last[-1:]
        loose += [(ERROR_NOTE, h, {"style": "dotted", "color": ERROR, "arrowhead": "none"}) for h in error_heads]
    return Drawn(parts, out, extra, loose)


def _as_u(block: Block, section: Section) -> None:
    """Lay the model's row out as a U (:mod:`.ushape`): top to bottom, decoder wires reversed,
    each level's skip source and decoder on one rank."""
    u = u_plan(section.g, section.layout, _section_wires(section)[0])
    if u is None:
        return
    unit = {section.id(k): k for k in u.group} | {section.id(k): k for k in section.layout.unit.values()}
    unit |= {section.id("copy " + k): "copy " + k for k in section.layout.unit.values()}
    block.graph.update(rankdir="TB", nodesep="0.05")
    # no level frames: the U shows the nesting, and a frame would keep its level's two sides together
    turned = {"orientation": "0"}  # a trapezoid narrows along the reading direction: downwards here
    block.nodes = [
        (i, label, {**attrs, **turned} if attrs.get("shape") == "trapezium" else attrs, ())
        for i, label, attrs, _ in block.nodes
    ]
    block.clusters = {}
    levels: dict[int, list[str]] = {}
    for node_id, *_ in block.nodes:
        if unit.get(node_id) in u.group:
            levels.setdefault(u.group[unit[node_id]], []).append(node_id)
    block.ranks = [levels[lv] for lv in sorted(levels)]
    edges = []
    for tail, head, attrs in block.edges:
        a, b = unit.get(tail, ""), unit.get(head, "")
        if u.runs_up(a, b):
            flipped = {k: v for k, v in attrs.items() if k not in ("arrowhead", "headclip")}
            flipped.update(dir="back", arrowtail=attrs.get("arrowhead", "normal"))
            if "headclip" in attrs:
                flipped["tailclip"] = attrs["headclip"]
            edges.append((head, tail, flipped))
        else:
            edges.append((tail, head, attrs))
    block.edges = edges


def graph_attrs(options: Options) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Graph, node and edge attributes for laying a block out."""
    return {**GRAPH_ATTR, "rankdir": options.rankdir}, dict(NODE_ATTR), dict(EDGE_ATTR)


def place(drawn: Drawn, options: Options, cache: dict[str, Placed] | None = None) -> list[Placed]:
    """Lay every block out with ``dot`` (memoised on the block's text in ``cache``)."""
    cache = {} if cache is None else cache
    attrs = graph_attrs(options)
    placed = []
    for block in [b for s in drawn.sections for b in drawn.blocks[s.key]] + drawn.extra:
        key = repr((block.nodes, block.clusters, block.edges, block.graph, block.ranks, attrs))
        if key not in cache:
            cache[key] = lay_out(block, *attrs)
        placed.append(cache[key])
    return placed


def draw(g: nx.MultiDiGraph, options: Options, cache: dict[str, Placed] | None = None) -> Diagram:
    """Draw ``g`` with fixed options (no page fitting): lay out each block, stack them."""
    drawn = blocks(g, options)
    return compose(
        str(g.graph.get("model") or "model"), place(drawn, options, cache), *graph_attrs(options), drawn.loose
    )


def _visible_axes(section: Section) -> set[str]:
    """The axes of every wire drawn in a section."""
    return {a for _, _, data in _section_wires(section)[0] for a in data.get("axes") or []}


def _nodes(
    rows: list[Block],
    outer: tuple[str, ...],
    section: Section,
    colours: dict[str, str],
    options: Options,
    g: nx.MultiDiGraph,
) -> None:
    """Every visible node of a section into its row's block, inside its clusters."""
    layout = section.layout

    def chain_of(frames: tuple[Frame, ...], row: Block) -> tuple[str, ...]:
        names = []
        for f in frames:
            name = section.cluster(f.path)
            names.append(name)
            if name not in row.clusters:
                row.clusters[name] = _cluster_attrs(f, layout)
        return outer + tuple(names)

    axes_table = g.graph.get("axes", {})
    for n, frames in layout.shown.items():
        data = _symbolic_numbers(section.g.nodes[n], g.graph.get("stand_ins") or {}, colours)
        label, attrs = labels.node_label(data, colours, scale=_scale_text(section.g, n, axes_table, colours))
        if n in options.cost:
            label = label[:-1] + "<BR/>" + labels.small(escape(options.cost[n]), "#b35900") + ">"
        attrs["tooltip"] = _tooltip(data)
        row = rows[section.row(n)]
        row.node(section.id(n), label, attrs, chain_of(frames, row))
    for box_id, box in layout.boxes.items():
        args = _box_args(section.g, box.frame)
        label, attrs = labels.box_label(box, args, short=options.u and not section.key)  # a U shows the level
        attrs["tooltip"] = f"{box.circuit} {box.frame.path}"
        row = rows[section.row(box_id)]
        row.node(section.id(box_id), label, attrs, chain_of(box.clusters, row))
    stub = {"shape": "plaintext", "fontsize": "9", "margin": "0", "width": "0", "height": "0"}
    arrow = "←" if options.rankdir == "RL" else "→"
    for (tail, row_index), k in _stubs(section).items():
        leave, enter = (f"{k} {arrow}", f"{arrow} {k}") if arrow == "←" else (f"{arrow} {k}", f"{k} {arrow}")
        rows[section.row(tail)].node(section.id(f"to {k}"), leave, dict(stub), outer)
        rows[row_index].node(section.id(f"from {k}"), enter, dict(stub), outer)


def _cluster_attrs(f: Frame, layout: Plan) -> dict[str, str]:
    folded = f.is_repeat and f.path not in layout.unfolded
    attrs = {"label": labels.cluster_label(f, layout.counts, layout.bodies, folded), "fontsize": "11"}
    if folded:
        attrs.update(style="rounded,bold", color="#444444", penwidth="2", bgcolor="#fafafa")
    elif f.repeat is not None:
        attrs.update(style="rounded,dashed", color="#999999")
    else:
        attrs.update(style="rounded", color="#999999")
    return attrs


def _box_args(g: nx.MultiDiGraph, frame: Frame) -> dict[str, Any] | None:
    """The integer parameters a collapsed box shows: its call's, or for a folded ``repeat`` every
    iteration's, a parameter that differs between them written with its values in turn
    (``shift=0/2``; ``shift=…`` beyond three), so the ×N box does not claim iteration 0's for all."""
    table = g.graph.get("circuit_args", {})
    if not frame.is_repeat:
        return table.get(frame.path)
    first = table.get(_instance_path(g, frame))
    prefix = frame.path + "."
    runs = [args for path, args in table.items() if path.startswith(prefix) and path[len(prefix) :].isdigit()]
    if first is None or len(runs) < 2:
        return first
    shown: dict[str, Any] = {}
    for key, value in first.items():
        values = list(dict.fromkeys(args.get(key, value) for args in runs))
        shown[key] = value if len(values) == 1 else "/".join(map(str, values)) if len(values) <= 3 else "…"
    return shown


def _scale_text(g: nx.MultiDiGraph, n: str, axes_table: dict[str, Any], colours: dict[str, str]) -> str | None:
    """``× k^−½`` for a division by √size of an axis (the attention scale), else None.

    The IR keeps only the constant; the axis is the one the producing
    contraction summed over, or else any axis of that size (a symbolic
    circuit's axis: its stand-in number, ``g.graph["stand_ins"]``).
    """
    data = g.nodes[n]
    if data["op"] not in ("div", "mul") or data["attrs"]["const"] is None or data["attrs"]["const_left"]:
        return None  # a product of two tensors, or a constant divided by a tensor
    const = float(data["attrs"]["const"])
    square = const * const if data["op"] == "div" else (1 / const**2 if const else 0)
    candidates: list[str] = []
    for u in g.predecessors(n):
        if g.nodes[u]["op"] == "contract":
            candidates += list(g.nodes[u]["attrs"]["over"])
    candidates += list(axes_table)
    stand_ins = g.graph.get("stand_ins") or {}  # a symbolic circuit's axes read as numbers
    for name in candidates:
        ax = axes_table.get(name)
        size = ax.size.as_int() if ax is not None and hasattr(ax.size, "as_int") else None
        size = stand_ins.get(name) if size is None else size
        if size is not None and math.isclose(size, square, rel_tol=1e-6):
            return f"× {labels.axis(name, colours)}<SUP>−½</SUP>"
    return None


#: Integer attributes of wiring boxes that may be read from an axis's size (``roll(x, shift=half)``).
_POSITION_ATTRS = ("shift", "start", "stop", "index", "before", "after")


def _symbolic_numbers(data: dict[str, Any], stand_ins: dict[str, float], colours: dict[str, str]) -> dict[str, Any]:
    """``data`` with each position attribute that is a symbolic circuit's stand-in number written as its axis.

    A circuit drawn alone (``ncdl render --circuit``) reads an axis without a
    size as a stand-in prime (``g.graph["stand_ins"]``); ``roll(x, shift=half)``
    then holds that prime, which would be drawn as a meaningless number.
    """
    if not stand_ins or not any(isinstance(data["attrs"].get(k), int) for k in _POSITION_ATTRS):
        return data
    names = {int(v): name for name, v in stand_ins.items()}
    attrs = dict(data["attrs"])
    for key in _POSITION_ATTRS:
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) in names:
            attrs[key] = ("−" if value < 0 else "") + labels.axis(names[abs(value)], colours)
    return {**data, "attrs": attrs}


def _tooltip(data: dict[str, Any]) -> str:
    where = f" · {data['scope']}" if data.get("scope") else ""
    weights = labels.params_text(data)
    text = f"{data.get('name', '')}: {data.get('op', '')} [{', '.join(data.get('axes', []))}]{where}"
    return text + (f" · {weights}" if weights else "")


def _named(section: Section, unit: str) -> set[str]:
    if unit.startswith(BOX_PREFIX):
        return section.layout.boxes[unit].named
    data = section.g.nodes[unit]
    if data["op"] == "embed":  # the index wire is what an embedding reads
        return set(data["axes"]) | named_axes(data)
    return named_axes(data)


def _edges(
    rows: list[Block],
    section: Section,
    colours: dict[str, str],
    options: Options,
    loose: list[tuple[str, str, dict[str, str]]],
) -> list[str]:
    """Every wire of a section into its row's block (``loose``: error wires between rows);
    return the heads of error wires."""
    seen: set[tuple] = set()
    error_heads: list[str] = []
    named_cache: dict[str, set[str]] = {}
    layout, g = section.layout, section.g
    stubs = _stubs(section)

    def named(unit: str) -> set[str]:
        if unit not in named_cache:
            named_cache[unit] = _named(section, unit)
        return named_cache[unit]

    wires, fanout = _section_wires(section)
    copies = {t for t, hs in fanout.items() if len(hs) > 1}
    for t in sorted(copies):
        rows[section.row(t)].node(
            section.id("copy " + t), "", {"shape": "point", "width": "0.09", "color": "#333333"}, _outer(section, t)
        )
    labelled: set[str] = set()
    cups = {u for u in layout.shown if OPS[g.nodes[u]["op"]].glyph == "cup"}  # wires end at the cup's centre
    for tail, head, data in wires:
        wire_axes = list(data.get("axes") or [])
        cross = section.row(tail) != section.row(head)
        block = rows[section.row(tail)]
        t, h = section.id(tail), section.id(head)
        if data.get("error"):
            error = str(data["error"])
            attrs = {"label": escape(error), "color": ERROR, "fontcolor": ERROR, "penwidth": "3", "tooltip": error}
            if cross:  # between two rows: drawn straight once the rows are stacked
                loose.append((t, h, attrs))
            else:
                block.edge(t, h, attrs)
            error_heads.append(h)
            continue
        label = None
        if tail not in labelled and _changes(g, layout, tail):
            label = labels.wire_label(wire_axes, colours, g.graph.get("axes", {}), options.labels)
            labelled.add(tail)
        if tail in copies:
            if ("copy", tail) not in seen:
                seen.add(("copy", tail))
                _wire(block, t, section.id("copy " + tail), wire_axes, set(wire_axes), colours, label, arrow=False)
            t, label = section.id("copy " + tail), None
        if cross:  # the wire leaves its row at a numbered stub and comes back in the head's row
            k = stubs[(tail, section.row(head))]
            if ("stub", k) not in seen:
                seen.add(("stub", k))
                _wire(block, t, section.id(f"to {k}"), wire_axes, set(wire_axes), colours, label, arrow=False)
            t, label, block = section.id(f"from {k}"), None, rows[section.row(head)]
        _wire(block, t, h, wire_axes, named(head), colours, label, cup=head in cups)
    return error_heads


def _outer(section: Section, unit: str) -> tuple[str, ...]:
    """The clusters a copy dot sits in: the panel's and those of the value it copies."""
    frames = section.layout.shown.get(unit, ())
    outer = ("cluster panel " + section.key,) if section.key else ()
    return outer + tuple(section.cluster(f.path) for f in frames)


def _section_wires(section: Section) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, set[str]]]:
    """The wires a section draws (tail unit, head unit, edge data), and each tail's heads."""
    if section.wires is not None:
        return section.wires, section.fanout
    layout, g = section.layout, section.g
    seen: set[tuple] = set()
    fanout: dict[str, set[str]] = {}
    wires: list[tuple[str, str, dict[str, Any]]] = []
    for v in topological(g):
        for u, _, data in sorted(g.in_edges(v, data=True), key=lambda e: e[2].get("port", 0)):
            tail, head = layout.unit[u], layout.unit[v]
            if tail == head or layout.crosses_iterations(u, v):
                continue
            wire_axes = list(data.get("axes") or [])
            port = None if head.startswith(BOX_PREFIX) else data.get("port")
            key = (tail, head, tuple(wire_axes), port, data.get("error"))
            if key in seen:
                continue
            seen.add(key)
            wires.append((tail, head, data))
            if not data.get("error"):
                fanout.setdefault(tail, set()).add(head)
    section.wires, section.fanout = wires, fanout
    return wires, fanout


def _stubs(section: Section) -> dict[tuple[str, int], int]:
    """A number for each (tail, row) a wire wraps to: the stub pair ``→ k`` … ``k →``."""
    out: dict[tuple[str, int], int] = {}
    if not section.rows:
        return out
    for tail, head, data in _section_wires(section)[0]:
        if not data.get("error") and section.row(tail) != section.row(head):
            out.setdefault((tail, section.row(head)), len(out) + 1)
    return out


def _changes(g: nx.MultiDiGraph, layout: Plan, unit: str) -> bool:
    """True when the wires leaving ``unit`` are new: a port, a box, or axes unlike its input's."""
    if unit.startswith(BOX_PREFIX):
        return True
    data = g.nodes[unit]
    if data["op"] == "input":
        return True
    ins = [d.get("axes") for _, _, d in g.in_edges(unit, data=True)]
    return not ins or any(list(a or []) != list(data.get("axes") or []) for a in ins[:1])


def _wire(
    block: Block,
    tail: str,
    head: str,
    wire_axes: list[str],
    head_named: set[str],
    colours: dict[str, str],
    label: str | None = None,
    arrow: bool = True,
    cup: bool = False,
) -> None:
    """One tensor: a bold multi-colour edge for the axes the head box acts on and
    a thin, pale one for the axes that pass it by (broadcast), both running into it.
    Into a contraction ``cup`` the wires run to its centre, without arrows: they join there."""
    extra: dict[str, str] = {} if arrow and not cup else {"arrowhead": "none"}
    if cup:
        extra["headclip"] = "false"
    if label:
        extra["xlabel"] = label
    if not wire_axes:
        block.edge(tail, head, {"color": "#000000", "penwidth": "1", "tooltip": "scalar", **extra})
        return
    groups: dict[bool, list[str]] = {}
    for a in wire_axes:
        groups.setdefault(a in head_named, []).append(a)
    for into_box, group in sorted(groups.items(), reverse=True):
        suffix = "" if into_box else PASSING_ALPHA
        attrs = {"color": ":".join(colours.get(a, UNKNOWN) + suffix for a in group), "tooltip": ", ".join(group)}
        attrs.update(extra)
        if into_box:
            attrs["penwidth"] = WIRE_WIDTH
        else:
            attrs.update({"penwidth": PASSING_WIDTH, "arrowhead": "none", "class": PASSING})
        block.edge(tail, head, attrs)
        extra.pop("xlabel", None)

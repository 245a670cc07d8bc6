"""The default view: the most open diagram that still fits one page.

Candidates, most open first: a model with a recursive circuit (the U-Net)
drawn as a U (:mod:`.ushape`), with and without panels; every circuit open;
then, for each depth from the deepest down to 0, the circuits below that depth drawn as boxes with a
definition panel for each (:mod:`.panels`). Each candidate's blocks are laid
out by ``dot`` and measured (:mod:`.page`); a section wider than the page
wraps into rows where its top-level items cross the page's right edge
(measured from the same layout), narrower and narrower until its rows fit.
The first candidate that fits is the view, so the depth is chosen by the
resulting size, not by a box count.

An explicit ``depth`` is drawn as asked (with panels where they keep the
page); when it does not fit, the caller gets advice naming the depth that
does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import graphviz
import networkx as nx

from ncdl.compiler.diagram.fold import merge_frames
from ncdl.compiler.diagram.page import COLUMN_PT, MAX_ASPECT, MIN_TEXT_PT, Page, fonts
from ncdl.compiler.diagram.render import (
    LABEL_MODES,
    SIDES,
    Drawn,
    Options,
    PageWarning,
    Section,
    blocks,
    cost_texts,
    graph_attrs,
    place,
)
from ncdl.compiler.diagram.scene import Diagram, Placed, compose, stacked_size
from ncdl.compiler.diagram.ushape import chain


def render(
    g: nx.MultiDiGraph,
    depth: int | None | str = "auto",
    expand: Iterable[str] = (),
    rankdir: str = "LR",
    panels: bool | str = "auto",
    labels: str = "names",
    cost: bool = False,
    backward: bool = False,
    u: bool | None = None,
) -> graphviz.Digraph:
    """The neural circuit diagram of an IR graph.

    Args:
        g: an IR graph (possibly cut short by an error: ``g.graph["error"]``).
        depth: ``"auto"`` (default): the most open view that fits one page;
            a number: draw circuits nested deeper than it as single boxes;
            None: every circuit open.
        expand: instance paths to open regardless of ``depth``; a ``repeat``'s
            path here draws every iteration instead of folding to iteration 0.
        rankdir: Graphviz reading direction; ``"LR"`` puts inputs left.
        panels: draw each circuit shown as a box once more as its own
            definition panel; ``"auto"``: where the page still fits.
        labels: what wires are labelled with: ``names``, ``sizes``, ``both`` or ``none``.
        cost: write FLOPs and activation bytes on each box and mark the largest activation.
        backward: draw the backward pass instead (:mod:`.backward`): each box's
            derivative, gradient wires right to left, the weights' gradients.
        u: a model with a recursive circuit (the U-Net) drawn as a U
            (:mod:`.ushape`): None (default) where it fits a page, True
            always (a warning when it does not fit), False never.

    Returns:
        A ``graphviz.Digraph``; in Jupyter it displays itself. A view that
        does not fit a page warns (:class:`PageWarning`) with the options
        that keep it readable.

    Example:
        >>> dot = render(program.graph(), depth=1, expand=("blocks.0.attn",))
        >>> write_diagram(dot, "gpt.svg")
    """
    if rankdir not in SIDES:
        raise ValueError(f"rankdir must be one of {', '.join(SIDES)}, not {rankdir!r}")
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}, not {labels!r}")
    if depth != "auto" and depth is not None and (not isinstance(depth, int) or depth < 0):
        raise ValueError(f"diagram depth must be 0 or more, not {depth}")
    costs = cost_texts(g) if cost else {}
    if backward:
        from ncdl.compiler.diagram.backward import backward_graph

        g = backward_graph(g)
        rankdir = {"LR": "RL", "RL": "LR", "TB": "BT", "BT": "TB"}[rankdir]
    base = Options(rankdir=rankdir, labels=labels, cost=costs)
    dot, advice = choose(g, depth, tuple(expand), panels, base, u=False if backward else u)
    if advice:
        warnings.warn(advice, PageWarning, stacklevel=2)
    return dot


#: Room kept for panel frames, as a fraction of the page width.
MARGIN = 0.92
#: Room a definition panel's frame takes around its rows, points.
FRAME = 20.0


def choose(
    g: nx.MultiDiGraph,
    depth: int | None | str,
    expand: tuple[str, ...],
    panels: bool | str,
    base: Options,
    u: bool | None = None,
) -> tuple[Diagram, str | None]:
    """The diagram to draw and, when it does not fit a page, advice on what would."""
    if depth == "auto":
        candidates = auto_candidates(g, panels)
    elif panels == "auto":
        candidates = [(depth, True), (depth, False)]
    else:
        candidates = [(depth, bool(panels))]
    cache: dict[str, Placed] = {}
    best: tuple[Options, list[Placed], Page] | None = None
    recursion = chain(g) if u or (u is None and depth == "auto" and not expand) else ()
    options = [
        replace(base, depth=0, expand=recursion, panels=p, u=True) for p in (True, False) if panels in (p, "auto")
    ]
    if not recursion:
        options = []
    for d, with_panels in candidates if not (u and recursion) else []:
        opts = replace(base, depth=d, expand=expand, panels=with_panels and d is not None)  # type: ignore[arg-type]
        options.append(opts)
    for opts in options:
        opts, placed, page = fit(g, opts, cache)
        if page.fits:
            best = (opts, placed, page)
            break
        if best is None or page.smallest_text > best[2].smallest_text:
            best = (opts, placed, page)
    assert best is not None
    opts, placed, page = best
    diagram = compose(str(g.graph.get("model") or "model"), placed, *graph_attrs(opts), blocks(g, opts).loose)
    return diagram, None if page.fits else advice(g, depth, page, base, cache)


def auto_candidates(g: nx.MultiDiGraph, panels: bool | str) -> list[tuple[int | None, bool]]:
    """(depth, panels) pairs, most open first: all open, then each depth with panels, then without."""
    levels = range(max_level(g) - 1, -1, -1)
    out: list[tuple[int | None, bool]] = [(None, False)]
    if panels is not False:
        out += [(d, True) for d in levels]
    return out + [(d, False) for d in levels if panels is not True]


def max_level(g: nx.MultiDiGraph) -> int:
    """The deepest nesting of circuits and repeats in ``g`` (0 for a flat model)."""
    seen: set[tuple] = set()
    deepest = 0
    for _, data in g.nodes(data=True):
        key = tuple(tuple(f) for f in data.get("frames") or [])
        if key not in seen:
            seen.add(key)
            chain = merge_frames(key)
            if chain:
                deepest = max(deepest, chain[-1].level)
    return deepest


def measure_blocks(placed: list[Placed]) -> Page:
    """The page of the stacked blocks: their stacked size and smallest font."""
    width, height = stacked_size(placed)
    drawn = [f for p in placed for f in fonts(p.layout)]
    return Page(width, height, min(drawn) if drawn else 14.0)


def fit(g: nx.MultiDiGraph, options: Options, cache: dict[str, Placed]) -> tuple[Options, list[Placed], Page]:
    """Draw with ``options``; wrap each section wider than the page into rows; measure."""
    drawn = blocks(g, options)
    placed = place(drawn, options, cache)
    page = measure_blocks(placed)
    if page.fits:
        return options, placed, page
    limit = MARGIN * COLUMN_PT * page.font / MIN_TEXT_PT
    if page.width <= limit and page.width > page.height * MAX_ASPECT:
        limit = max(page.width * 0.55, page.height * MAX_ASPECT * 0.5)  # readable but a ribbon: rows
    best: tuple[Options, list[Placed], Page] = (options, placed, page)
    for scale, merge in ((1.0, True), (1.0, False), (0.7, False), (0.5, False)):
        # joined rows are fewer, but may leave a ribbon too wide for its height: then narrower rows
        wrapped = _wrap_sections(g, options, drawn, placed, page, limit * scale, cache, merge)
        if wrapped[2].fits:
            return wrapped
        if (wrapped[2].smallest_text, -wrapped[2].aspect) > (best[2].smallest_text, -best[2].aspect):
            best = wrapped
    return best


def _wrap_sections(
    g: nx.MultiDiGraph,
    options: Options,
    drawn: Drawn,
    placed: list[Placed],
    page: Page,
    limit: float,
    cache: dict[str, Placed],
    merge: bool,
) -> tuple[Options, list[Placed], Page]:
    """Wrap every section wider than ``limit`` into rows; lay out and measure the result."""
    rows = dict(options.rows)
    index, first = 0, {}
    for section in drawn.sections:  # placed lists the sections' blocks in order
        first[section.key] = placed[index]
        index += len(drawn.blocks[section.key])
    for section in drawn.sections:
        layout = first[section.key].layout
        if _width(layout) <= limit or (options.u and not section.key):  # a U is not cut into rows
            continue
        rows[section.key] = _fit_rows(
            g, options, section, layout, limit, cache, COLUMN_PT * page.font / MIN_TEXT_PT, merge
        )
    if rows == options.rows:
        return options, placed, page
    options = replace(options, rows=rows)
    placed = place(blocks(g, options), options, cache)
    return options, placed, measure_blocks(placed)


def _fit_rows(
    g: nx.MultiDiGraph,
    options: Options,
    section: Section,
    layout: dict[str, Any],
    limit: float,
    cache: dict[str, Placed],
    page_width: float,
    merge: bool = True,
) -> dict[str, int]:
    """Rows of one section that fit the page (``page_width`` points), as few as it takes.

    Rows are planned ``limit`` points wide and balanced; a row that comes out
    wider than the page (its stubs and labels take room too) is split in two,
    and the rest stay as they are.
    """
    extent = _extents(layout, section)
    allowed = page_width - FRAME

    def widths(rows: dict[str, int]) -> list[float]:
        trial = replace(options, rows={**options.rows, section.key: rows})
        drawn: Drawn = blocks(g, trial)
        placed = place(Drawn([section], {section.key: drawn.blocks[section.key]}, [], []), trial, cache)
        return [p.size[0] for p in placed]

    rows = wrap(layout, section, limit)
    for _ in range(4):
        if len(set(rows.values())) <= 1:
            return rows
        wide = {r for r, w in enumerate(widths(rows)) if w > allowed}
        if not wide:
            break
        rows = _split(rows, wide, extent)
    return _merge(rows, widths, allowed) if merge else rows


def _merge(rows: dict[str, int], widths: Any, allowed: float) -> dict[str, int]:
    """Join neighbouring rows while the joined row still fits (splitting may leave short rows)."""
    r = 0
    while r < max(rows.values(), default=0):
        sizes = widths(rows)
        if sizes[r] + sizes[r + 1] <= allowed * 1.1:
            joined = {i: (v - 1 if v > r else v) for i, v in rows.items()}
            if widths(joined)[r] <= allowed:
                rows = joined
                continue
        r += 1
    return rows


def _split(rows: dict[str, int], wide: set[int], extent: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Split each row in ``wide`` in two at the middle of its extent; renumber the rows in order."""
    out: dict[str, int] = {}
    shift = 0
    for r in sorted(set(rows.values())):
        members = sorted((i for i in rows if rows[i] == r), key=lambda i: extent.get(i, (0.0, 0.0)))
        if r in wide and len(members) > 1:
            lo = min(extent.get(i, (0.0, 0.0))[0] for i in members)
            hi = max(extent.get(i, (0.0, 0.0))[1] for i in members)
            middle = (lo + hi) / 2
            second = [i for i in members if sum(extent.get(i, (0.0, 0.0))) / 2 > middle] or members[-1:]
            for i in members:
                out[i] = r + shift + (1 if i in second else 0)
            shift += 1
        else:
            for i in members:
                out[i] = r + shift
    return out


def _width(layout: dict[str, Any]) -> float:
    x0, _, x1, _ = (float(v) for v in layout["bb"].split(","))
    return x1 - x0


def _extents(layout: dict[str, Any], section: Section) -> dict[str, tuple[float, float]]:
    """The horizontal extent (points) of each top-level item of a section in a ``-Tjson`` layout."""
    extent: dict[str, tuple[float, float]] = {}
    for obj in layout.get("objects", []):
        name = obj.get("name", "")
        if "bb" in obj:
            x0, _, x1, _ = (float(v) for v in obj["bb"].split(","))
            extent[name] = (x0, x1)
        elif "pos" in obj:
            x = float(obj["pos"].split(",")[0])
            half = float(obj.get("width", 0)) * 36
            extent[name] = (x - half, x + half)
    items = {section.item(unit) for unit in set(section.layout.unit.values())}
    return {item: extent[item] for item in items if item in extent}


def wrap(layout: dict[str, Any], section: Section, target: float) -> dict[str, int]:
    """A row per top-level item of a section so that rows are about ``target`` points wide, balanced."""
    ordered = sorted(_extents(layout, section).items(), key=lambda kv: (kv[1][0], kv[0]))
    if not ordered:
        return {}
    span = max(hi for _, (_, hi) in ordered) - ordered[0][1][0]
    width = span / max(1, math.ceil(span / target)) * 1.05
    row, start, assigned = 0, ordered[0][1][0], {}
    for item, (lo, hi) in ordered:
        if hi - start > width and assigned:
            row, start = row + 1, lo
        assigned[item] = row
    return assigned


def advice(g: nx.MultiDiGraph, depth: int | None | str, page: Page, base: Options, cache: dict[str, Placed]) -> str:
    """Why the view is larger than a page, and which ``--depth``/``--expand`` keeps it readable."""
    head = f"the diagram is larger than a page ({page.describe()})"
    for d, with_panels in auto_candidates(g, "auto"):
        if d is None or (isinstance(depth, int) and d >= depth) or depth == "auto":
            continue
        _, _, small = fit(g, replace(base, depth=d, expand=(), panels=with_panels), cache)
        if small.fits:
            panels = "" if with_panels else " --no-panels"
            return f"{head}; `--depth {d}{panels}` keeps it readable, and `--expand PATH` opens one circuit of it"
    if max_level(g) == 0:
        return f"{head}; it has no circuits to fold: `--labels none` makes it narrower"
    return f"{head}; draw less of it: `--depth 0`, then `--expand PATH` to open one circuit at a time"

"""Outside labels moved clear of boxes, titles and wires, after ``dot`` has placed everything.

A wire's label and a glyph's title (a norm circle's name, the softmax
triangle's) are Graphviz *xlabels*: they take no room in the layout, so
the rows stay compact, but ``dot`` places them late and often over a box
title or a port (Graphviz 2.43's placement sees only nodes it has already
placed). This module re-places each xlabel of one laid-out block (its
``dot -Tjson`` object) from a short list of candidate spots, keeping the
first one that overlaps nothing:

* a glyph's title: touching its shape, above it, then below, then at a corner;
* a wire's label: where ``dot`` put it, then just above or below the wire's
  own route at its middle, a third, two thirds, …, of its length, then
  further above or below its middle (a short wire between tall boxes).

A spot is free when it overlaps no node, no cluster title and no label
placed before it; among free spots, one inside the block is preferred,
then one that misses every wire, then the earliest. When no spot is free
(a long label on a short wire between stacked boxes), :func:`settle` says
so, and :func:`ncdl.compiler.diagram.scene.lay_out` lays the block out
again with that wire's label a real ``label``, for which ``dot`` makes
room. A label moved past the block's edge
grows the block's ``bb`` (so the page measure sees it) and the frames of
the clusters it belongs to; nothing else moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 (points, y up)
#: Room kept between a label and what it avoids, points.
PAD = 1.5
#: Where along a wire its label may sit (fractions of its length), best first.
ALONG = (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9)


Spots = Callable[[float, float], list[tuple[float, float]]]
"""Candidate centres of a label, best first, given its half width and half height."""


def settle(layout: dict[str, Any]) -> list[str]:
    """Move every xlabel of a ``dot -Tjson`` layout clear of boxes and other labels (in place);
    return the ids of the edges whose label found no free spot (it stays where ``dot`` put it)."""
    bb = list(_floats(layout["bb"]))
    objects = [o for o in layout.get("objects", []) if "pos" in o]
    boxes = [_node_rect(o) for o in objects]
    titles = [_text_rect(c.get("_ldraw_", [])) for c in layout.get("objects", []) if "bb" in c]
    taken: list[Rect] = boxes + [r for r in titles if r is not None]
    wires = _wire_points(layout.get("edges", []))
    clusters = [c for c in layout.get("objects", []) if "bb" in c]
    for obj, box in zip(objects, boxes, strict=True):
        if "xlp" in obj:
            at = _place(obj, _node_label_ops(obj, box), _around(box), bb, taken, wires, off_wires=True)
            _grow([c for c in clusters if obj.get("_gvid") in c.get("nodes", [])], at)
    stuck = []
    for edge in layout.get("edges", []):
        if "xlp" in edge and "pos" in edge:
            ops = [op for op in edge.get("_ldraw_", []) if op.get("op") in ("T", "F")]
            at = _place(edge, ops, _beside(_route(edge["pos"])), bb, taken, wires, keep=True)
            _grow([c for c in clusters if edge.get("_gvid") in c.get("edges", [])], at)
            if at is None:
                stuck.append(str(edge.get("id", "")))
    layout["bb"] = ",".join(f"{v:.2f}" for v in bb)
    return stuck


def _place(
    item: dict[str, Any],
    ops: list[dict[str, Any]],
    spots: Spots,
    bb: list[float],
    taken: list[Rect],
    wires: np.ndarray,
    off_wires: bool = False,
    keep: bool = False,
) -> Rect | None:
    """Move ``item``'s xlabel to the best free spot (see the module doc); record the rect it takes.

    ``off_wires``: missing the wires matters more than staying inside the block
    (a glyph's title, which sits on the wires by nature); ``keep``: where ``dot`` put
    the label is the first spot tried."""
    rect = _text_rect(ops)
    if rect is None:
        return None
    cx, cy = _floats(item["xlp"])
    half_w, half_h = (rect[2] - rect[0]) / 2, (rect[3] - rect[1]) / 2
    dx, dy = (rect[0] + rect[2]) / 2 - cx, (rect[1] + rect[3]) / 2 - cy  # the text's centre, off the xlp
    candidates = [(x - half_w, y - half_h, x + half_w, y + half_h) for x, y in spots(half_w, half_h)]
    if keep:  # where dot put it comes first
        candidates.insert(0, rect)
    free = [r for r in candidates if not any(_overlap(r, t) for t in taken)]

    best = _best(free, bb, wires, off_wires)
    if best is None:
        taken.append(rect)
        return None
    item["xlp"] = f"{(best[0] + best[2]) / 2 - dx:.2f},{(best[1] + best[3]) / 2 - dy:.2f}"
    taken.append(best)
    bb[:] = [min(bb[0], best[0]), min(bb[1], best[1]), max(bb[2], best[2]), max(bb[3], best[3])]
    return best


def _best(free: list[Rect], bb: list[float], wires: np.ndarray, off_wires: bool) -> Rect | None:
    """The first spot of the best tier: inside the block, then off the wires (the other way
    round with ``off_wires``). Wire hits are tested lazily: they cost the most."""
    inside = [r for r in free if _inside(r, bb)]
    outside = [r for r in free if not _inside(r, bb)]
    if off_wires:
        for r in inside + outside:
            if not _hits(r, wires):
                return r
        return (inside + outside or [None])[0]
    for group in (inside, outside):
        for r in group:
            if not _hits(r, wires):
                return r
        if group:
            return group[0]
    return None


def _grow(clusters: list[dict[str, Any]], rect: Rect | None) -> None:
    """Grow the frames of the clusters a moved label belongs to, so that it stays inside them."""
    if rect is None:
        return
    for c in clusters:
        x0, y0, x1, y1 = _floats(c["bb"])
        box = (min(x0, rect[0] - PAD), min(y0, rect[1] - PAD), max(x1, rect[2] + PAD), max(y1, rect[3] + PAD))
        c["bb"] = ",".join(f"{v:.2f}" for v in box)


def _around(box: Rect) -> Spots:
    """Spots touching a shape: above, below, then its four corners (its sides are where wires run)."""
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2
    return lambda w, h: [
        (cx, y1 + h + PAD),
        (cx, y0 - h - PAD),
        (x1 + w, y1 + h),  # corners, touching diagonally
        (x0 - w, y1 + h),
        (x1 + w, y0 - h),
        (x0 - w, y0 - h),
    ]


def _beside(route: np.ndarray) -> Spots:
    """Just above or below a wire along its route, then further off its middle."""
    points = _along(route)

    def spots(w: float, h: float) -> list[tuple[float, float]]:
        near = [(x, y + s * (h + 2 * PAD)) for x, y in points for s in (1, -1)]
        # a short wire between tall boxes: higher up in the gap, up to four label heights off the wire
        far = [(x, y + s * (h + 2 * PAD + k * h)) for k in (1, 2, 3, 4) for x, y in points[:1] for s in (1, -1)]
        return near + far

    return spots


def _along(route: np.ndarray) -> list[tuple[float, float]]:
    """The points of a route at the fractions :data:`ALONG` of its length."""
    if len(route) < 2:
        return []
    steps = np.hypot(*np.diff(route, axis=0).T)
    total = float(steps.sum())
    if total <= 0:
        return []
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    return [
        (float(np.interp(f * total, cumulative, route[:, 0])), float(np.interp(f * total, cumulative, route[:, 1])))
        for f in ALONG
    ]


def _node_label_ops(obj: dict[str, Any], box: Rect) -> list[dict[str, Any]]:
    """The text operations of a node's xlabel: those drawn outside the node."""
    ops = [op for op in obj.get("_ldraw_", []) if op.get("op") in ("T", "F")]
    return [
        op for op in ops if op["op"] == "F" or not (box[0] <= op["pt"][0] <= box[2] and box[1] <= op["pt"][1] <= box[3])
    ]


def _node_rect(obj: dict[str, Any]) -> Rect:
    x, y = _floats(obj["pos"])
    w, h = float(obj.get("width", 0)) * 36, float(obj.get("height", 0)) * 36
    return x - w, y - h, x + w, y + h


def _text_rect(ops: list[dict[str, Any]]) -> Rect | None:
    """The box around text operations (``T``, after their ``F`` font size)."""
    size, rects = 14.0, []
    for op in ops:
        if op.get("op") == "F":
            size = float(op["size"])
        elif op.get("op") == "T":
            x, y, w = float(op["pt"][0]), float(op["pt"][1]), float(op["width"])
            x0 = {"l": x, "r": x - w}.get(op.get("align", "c"), x - w / 2)
            rects.append((x0, y - 0.3 * size, x0 + w, y + 0.9 * size))
    if not rects:
        return None
    return min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects)


def _route(pos: str) -> np.ndarray:
    """The control points of an edge's spline (arrow tips left out), as an (n, 2) array."""
    points = [p.split(",") for p in pos.split() if not p.startswith(("e,", "s,"))]
    return np.array([[float(x), float(y)] for x, y in points]) if points else np.zeros((0, 2))


def _wire_points(edges: list[dict[str, Any]]) -> np.ndarray:
    """Points along every wire's route (eight per spline segment), to keep labels off the wires."""
    routes = [_route(edge["pos"]) for edge in edges if "pos" in edge]
    segments = [np.stack([r[:-1], r[1:]], axis=1) for r in routes if len(r) > 1]
    if not segments:
        return np.zeros((0, 2))
    both = np.concatenate(segments)  # (m, 2 ends, 2 coordinates)
    t = np.linspace(0.0, 1.0, 8)[None, :, None]
    return (both[:, :1] + (both[:, 1:] - both[:, :1]) * t).reshape(-1, 2)


def _hits(r: Rect, points: np.ndarray) -> bool:
    if not len(points):
        return False
    x, y = points[:, 0], points[:, 1]
    return bool(((x > r[0]) & (x < r[2]) & (y > r[1]) & (y < r[3])).any())


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] + PAD and b[0] < a[2] + PAD and a[1] < b[3] + PAD and b[1] < a[3] + PAD


def _inside(r: Rect, bb: list[float]) -> bool:
    return r[0] >= bb[0] and r[1] >= bb[1] and r[2] <= bb[2] and r[3] <= bb[3]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))

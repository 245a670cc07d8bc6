"""Where each IR node goes in the picture: clusters, folded repeats, boxes.

The IR is flat; each node's ``frames`` (``[path, circuit, kind]``, outermost
first) say which circuit instances and ``repeat`` iterations it sits in.
:func:`plan` turns them into a :class:`Plan`:

* an open circuit is a cluster around its nodes;
* a ``repeat`` is *folded* unless expanded: only iteration 0 is drawn, in
  one cluster marked ×N; a node of a later iteration stands for its
  counterpart in iteration 0 (the node at the same position), and wires
  between iterations are not drawn;
* a circuit nested deeper than ``depth`` (and not expanded) is *collapsed*
  into a single box; every node inside it stands for that box.

Levels count circuits and repeats from 1 (a repeat's body is the repeat's
own level), so ``depth=0`` keeps only the model's own ops and one box per
top-level circuit or repeat.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from ncdl.compiler.diagram.wires import acts_on_some, named_axes
from ncdl.ir import topological

BOX_PREFIX = "box "


@dataclass(frozen=True)
class Frame:
    """One level of nesting, after merging frames that share a path."""

    path: str
    circuit: str  # the circuit's name; "" for a bare repeat or iteration
    level: int
    repeat: str | None = None  # for an iteration: the path of its repeat
    is_repeat: bool = False


@dataclass
class Box:
    """A collapsed circuit or repeat drawn as one node."""

    frame: Frame
    clusters: tuple[Frame, ...]
    circuit: str
    count: int | None  # iterations, for a collapsed repeat
    params: int = 0
    named: set[str] = field(default_factory=set)
    axes: set[str] = field(default_factory=set)


@dataclass
class Plan:
    """The visible diagram: what each IR node becomes and which clusters hold it."""

    unit: dict[str, str]  # IR node -> visible id (an IR node id or a box id)
    shown: dict[str, tuple[Frame, ...]]  # visible IR node -> its clusters, outermost first
    boxes: dict[str, Box]
    counts: dict[str, int]  # repeat path -> iterations
    bodies: dict[str, str]  # repeat path -> the circuit each iteration calls ("" if none)
    unfolded: set[str]
    iteration: dict[str, dict[str, int]]  # IR node -> {folded repeat: iteration index}

    def crosses_iterations(self, u: str, v: str) -> bool:
        """True for a wire between two iterations of a folded repeat (not drawn)."""
        a, b = self.iteration.get(u, {}), self.iteration.get(v, {})
        return any(b.get(r, i) != i for r, i in a.items())


def merge_frames(raw: Iterable[Any]) -> tuple[Frame, ...]:
    """Frames of one node, with an iteration and the circuit it calls merged."""
    out: list[Frame] = []
    level = 0
    for entry in raw:
        path, circuit, kind = (list(entry) + ["", "", ""])[:3]
        # only a "circuit" frame names a circuit; the others carry their own path there
        path, circuit = str(path), str(circuit or "") if kind == "circuit" else ""
        if out and out[-1].path == path:
            out[-1] = replace(out[-1], circuit=out[-1].circuit or circuit)
        elif kind == "iteration" and out and out[-1].is_repeat:
            out.append(Frame(path, circuit, level, repeat=out[-1].path))
        else:
            level += 1
            out.append(Frame(path, circuit, level, is_repeat=kind == "repeat"))
    return tuple(out)


def _frames(g: nx.MultiDiGraph, order: list[str]) -> dict[str, tuple[Frame, ...]]:
    cache: dict[tuple, tuple[Frame, ...]] = {}
    result = {}
    for n in order:
        raw = g.nodes[n].get("frames") or []
        key = tuple(tuple(f) for f in raw)
        if key not in cache:
            cache[key] = merge_frames(raw)
        result[n] = cache[key]
    return result


def plan(g: nx.MultiDiGraph, depth: int | None = None, expand: Iterable[str] = ()) -> Plan:
    """Decide the clusters, folds and boxes for ``g`` (see the module docstring)."""
    order = topological(g)
    frames = _frames(g, order)
    expand = set(expand)
    if depth is not None and depth < 0:
        raise ValueError(f"diagram depth must be 0 or more, not {depth}")
    _check_paths(expand, {f.path for chain in frames.values() for f in chain})

    iterations: dict[str, list[str]] = {}  # repeat -> iteration paths, first seen first
    members: dict[str, list[str]] = {}  # iteration path -> its nodes, in order
    bodies: dict[str, str] = {}
    for n in order:
        for f in frames[n]:
            if f.repeat is None:
                continue
            if f.path not in members:
                iterations.setdefault(f.repeat, []).append(f.path)
                members[f.path] = []
                bodies.setdefault(f.repeat, f.circuit)
            members[f.path].append(n)
    index = {p: i for paths in iterations.values() for i, p in enumerate(paths)}
    counts = {r: int(g.graph.get("repeats", {}).get(r, len(paths))) for r, paths in iterations.items()}

    unfolded = {r for r in iterations if r in expand}
    opened = set(expand)
    for chain in set(frames.values()):
        for i, f in enumerate(chain):
            if f.path in expand:
                for outer in chain[:i]:
                    opened.add(outer.path)
                    if outer.repeat is not None and index[outer.path] > 0:
                        unfolded.add(outer.repeat)

    counterpart: dict[str, dict[str, str]] = {}
    boxed: set[str] = set()  # folded repeats whose iterations differ: one box each
    for r, paths in iterations.items():
        if r in unfolded:
            continue
        first = members[paths[0]]
        same = all(
            len(members[p]) == len(first)
            and all(g.nodes[a]["op"] == g.nodes[b]["op"] for a, b in zip(members[p], first, strict=True))
            for p in paths[1:]
        )
        if not same:
            boxed.add(r)
            continue
        counterpart[r] = {a: b for p in paths[1:] for a, b in zip(members[p], first, strict=True)}

    def folded(f: Frame) -> bool:
        return f.repeat is not None and f.repeat in counterpart

    def collapsed(f: Frame) -> bool:
        if f.path in boxed:
            return True
        return depth is not None and f.level > depth and f.path not in opened

    def representative(n: str) -> str:
        while True:
            for f in frames[n]:
                if folded(f) and index[f.path] > 0:
                    n = counterpart[f.repeat][n]  # type: ignore[index]
                    break
            else:
                return n

    unit: dict[str, str] = {}
    shown: dict[str, tuple[Frame, ...]] = {}
    boxes: dict[str, Box] = {}
    for n in order:
        r = representative(n)
        clusters: list[Frame] = []
        target = r
        for f in frames[r]:
            if folded(f):
                continue  # iteration 0 of a folded repeat is drawn inside the repeat's cluster
            if collapsed(f):
                target = BOX_PREFIX + f.path
                if target not in boxes:
                    circuit = bodies.get(f.path, "") if f.is_repeat else f.circuit
                    boxes[target] = Box(f, tuple(clusters), circuit, counts.get(f.path) if f.is_repeat else None)
                break
            clusters.append(f)
        unit[n] = target
        if target == r and r not in shown:
            shown[r] = tuple(clusters)

    for n in order:
        data = g.nodes[n]
        for f in frames[n]:
            box = boxes.get(BOX_PREFIX + f.path)
            if box is None:
                continue
            box.params += sum(_numel(p["shape"]) for p in data.get("params") or [] if not p.get("tied_to"))
            box.axes |= set(data.get("axes") or [])
            if acts_on_some(data):
                box.named |= named_axes(data)
    for box in boxes.values():
        if not box.named:
            box.named = set(box.axes)

    iteration = {
        n: {f.repeat: index[f.path] for f in frames[n] if folded(f)}  # type: ignore[misc]
        for n in order
        if any(folded(f) for f in frames[n])
    }
    return Plan(unit, shown, boxes, counts, bodies, unfolded, iteration)


def _check_paths(expand: set[str], known: set[str]) -> None:
    """Reject an ``expand`` path that names no circuit instance or repeat."""
    for path in sorted(expand - known):
        close = difflib.get_close_matches(path, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"cannot expand {path!r}: no circuit instance or repeat has that path{hint}")


def _numel(shape: Iterable[int]) -> int:
    total = 1
    for s in shape:
        total *= int(s)
    return total

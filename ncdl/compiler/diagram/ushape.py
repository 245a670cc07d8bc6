"""A recursive circuit drawn as a U: the paper's U-Net (Fig. 27).

A circuit that calls itself between a first and a last part (the U-Net's
``UNetLevel``: convolutions, then the next level, then an upsampling and a
concatenation with what the first part saved) is drawn with every level
open and its other circuits as boxes, top to bottom:

* a level's first part (the *encoder*) runs down the left, each level one
  step lower than the one that calls it;
* its last part (the *decoder*) comes back up on the right: its wires are
  laid out reversed (``dir=back``), so ``dot`` ranks them upwards;
* the value a level saves (the skip source), the copy dot it fans out
  from, and the decoder of the same level from the box that takes the skip
  onwards share one rank (``rank=same``), so each skip wire runs straight
  across; the model's own boxes before the U stand above its left arm (the
  input comes in at the top left) and those after it above its right arm
  (the output leaves at the top right), as in the paper's figure.

:func:`chain` finds the recursion (the instance paths to open);
:func:`u_plan` says which units share a rank and which wires run up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ncdl.ir import topological


def recursive_circuit(g: nx.MultiDiGraph) -> str | None:
    """The circuit that is nested in itself most deeply (None when none is)."""
    best, depth = None, 1
    seen: set[tuple] = set()
    for _, data in g.nodes(data=True):
        frames = tuple(tuple(f) for f in data.get("frames") or [])
        if frames in seen:
            continue
        seen.add(frames)
        counts = Counter(f[1] for f in frames if len(f) > 2 and f[2] == "circuit" and f[1])
        for name, n in counts.items():
            if n > depth:
                best, depth = name, n
    return best


def chain(g: nx.MultiDiGraph) -> tuple[str, ...]:
    """The instance paths of the recursive circuit, outermost first (empty when there is none)."""
    name = recursive_circuit(g)
    if name is None:
        return ()
    paths = {f[0] for _, d in g.nodes(data=True) for f in d.get("frames") or [] if f[1] == name}
    return tuple(sorted(paths, key=lambda p: (p.count("."), p)))


@dataclass
class UPlan:
    """Which drawn units share a rank, and which wires run up (their head is in the decoder)."""

    group: dict[str, int] = field(default_factory=dict)  # unit (or "copy <unit>") -> level sharing a rank
    decoder: set[str] = field(default_factory=set)

    def runs_up(self, tail: str, head: str) -> bool:
        """True for a wire the layout reverses: into the decoder (or a decoder value's copy dot),
        from outside the head's rank."""
        if head.removeprefix("copy ") not in self.decoder:
            return False
        return head not in self.group or self.group.get(tail) != self.group[head]


def u_plan(g: nx.MultiDiGraph, layout: Any, wires: list[tuple[str, str, dict[str, Any]]]) -> UPlan | None:
    """The U of a section's units (``layout``: its fold plan; ``wires``: its drawn wires), or None."""
    name = recursive_circuit(g)
    if name is None:
        return None
    order: dict[str, int] = {}
    for n in topological(g):
        order.setdefault(layout.unit[n], len(order))
    level = {u: _level(g, layout, u, name) for u in order}
    first_inner = {}
    for u, lv in level.items():
        for upper in range(lv):  # level 0: the model's own boxes, before and after the U
            first_inner[upper] = min(first_inner.get(upper, order[u]), order[u])
    plan = UPlan()
    for u, lv in level.items():
        if lv in first_inner and order[u] > first_inner[lv]:
            plan.decoder.add(u)
    receivers: dict[int, int] = {}
    for tail, head, _ in wires:
        lv = level.get(head)
        if head in plan.decoder and tail not in plan.decoder and level.get(tail) == lv and lv is not None:
            plan.group[tail] = lv  # the skip source
            plan.group["copy " + tail] = lv
            receivers[lv] = min(receivers.get(lv, order[head]), order[head])
    for u in plan.decoder:
        if level[u] in receivers and order[u] >= receivers[level[u]]:
            plan.group[u] = level[u]
    return plan if receivers else None


def _level(g: nx.MultiDiGraph, layout: Any, unit: str, name: str) -> int:
    """How many instances of the recursive circuit hold a unit."""
    if unit in layout.boxes:
        return sum(1 for f in layout.boxes[unit].clusters if f.circuit == name)
    return sum(1 for f in g.nodes[unit].get("frames") or [] if f[1] == name)

"""Size limits on a checked model, enforced before any backend allocates memory.

Two totals that the per-statement limits (file size, nesting, repeat count,
axis size) do not bound, because each is a product of many small numbers:

* the number of learned scalars (E155): tied parameters count once;
* the largest activation (E156): the elements of one box's output, with
  every axis at its fixed size, a bounded free axis at its bound, and an
  unbounded free axis (a batch) at 1 — a lower bound on what a run needs.

Each diagnostic gives the numbers and points at the box responsible.

A model under both limits may still not fit the machine: E202 refuses one
whose compile or export would need more memory than the machine has
(:func:`machine_memory`, the physical memory), estimated as every learned
scalar twice in float32 (ONNX export holds each weight as an array and as
its serialised bytes; torch holds the module's weights and their
initialisation) plus the largest activation, so that the refusal comes from
the check, with the figure, instead of a traceback when memory runs out.
"""

from __future__ import annotations

import os
from math import prod
from typing import Any

import networkx as nx

from ncdl import ir
from ncdl.dsl.diagnostics import Diagnostic, Span

#: Most learned scalars in one model (10^10: 40 GB of float32).
MAX_PARAMETERS = 10**10
#: Most elements in one box's output (2^34: 64 GiB of float32).
MAX_ACTIVATION = 2**34


#: Bytes per learned scalar that compile or export hold at their peak (two float32 copies).
BYTES_PER_PARAMETER = 8
#: Bytes per element of an activation (float32).
BYTES_PER_ELEMENT = 4


def machine_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_limits(g: nx.MultiDiGraph, sources: dict[str, list[str]]) -> list[Diagnostic]:
    """Diagnostics for a model over :data:`MAX_PARAMETERS` or :data:`MAX_ACTIVATION`
    (the machine's memory is :func:`check_memory`'s, asked when a model is compiled or exported)."""
    out = []
    total, largest = 0, None
    for node, data in g.nodes(data=True):
        for p in data.get("params") or []:
            if p.get("tied_to"):
                continue
            count = prod(p["shape"])
            total += count
            if largest is None or count > largest[0]:
                largest = (count, p["name"], p["shape"], node)
    if total > MAX_PARAMETERS and largest is not None:
        count, name, shape, node = largest
        out.append(
            _at(
                g,
                node,
                sources,
                "E155",
                f"model '{g.graph.get('model', '')}' has {total:,} parameters, over the limit of {MAX_PARAMETERS:,}",
                f"the largest is '{name}' {list(shape)} with {count:,}; use smaller axes or fewer repeats",
            )
        )
    axes: dict[str, ir.Axis] = g.graph["axes"]
    estimate = {name: _estimate(axis, axes) for name, axis in axes.items()}
    worst = None
    for node, data in g.nodes(data=True):
        elements = prod(estimate.get(a, 1) for a in data["axes"])
        if elements > MAX_ACTIVATION and (worst is None or elements > worst[0]):
            worst = (elements, node, data)
    if worst is not None:
        elements, node, data = worst
        shape = ", ".join(f"{a}={estimate.get(a, 1):,}" for a in data["axes"])
        out.append(
            _at(
                g,
                node,
                sources,
                "E156",
                f"'{data['op']}' makes a tensor of {elements:,} elements [{shape}], over the limit of {MAX_ACTIVATION:,} (2^{MAX_ACTIVATION.bit_length() - 1})",
                "free axes count at their bound (or 1 when unbounded); use smaller axes",
            )
        )
    return out


def check_memory(g: nx.MultiDiGraph, sources: dict[str, list[str]]) -> list[Diagnostic]:
    """E202 when compiling or exporting ``g`` needs more memory than the machine has.

    Asked by ``Program.to_torch`` and ``to_onnx``, not by the check: a file may
    declare a model too large for this machine beside ones that fit (Llama 3 8B
    beside a test-sized Llama), and checking it (``ncdl check``: its parameter
    count) needs no memory for its weights.
    """
    memory = machine_memory()
    total, largest = 0, None
    for node, data in g.nodes(data=True):
        for p in data.get("params") or []:
            if not p.get("tied_to"):
                count = prod(p["shape"])
                total += count
                if largest is None or count > largest[0]:
                    largest = (count, node)
    axes: dict[str, ir.Axis] = g.graph["axes"]
    estimate = {name: _estimate(axis, axes) for name, axis in axes.items()}
    biggest = max(((prod(estimate.get(a, 1) for a in d["axes"]), n) for n, d in g.nodes(data=True)), default=(0, None))
    need = BYTES_PER_PARAMETER * total + BYTES_PER_ELEMENT * biggest[0]
    if memory is None or need <= memory:
        return []
    at = largest[1] if largest is not None and largest[0] * 2 >= biggest[0] else biggest[1]
    return [
        _at(
            g,
            at,
            sources,
            "E202",
            f"model '{g.graph.get('model', '')}' needs about {_gb(need)} to compile or export, "
            f"more than this machine's {_gb(memory)} of memory",
            f"{total:,} parameters count twice in float32 (the weights and their copy while they are written), "
            f"plus the largest activation of {biggest[0]:,} elements; use smaller axes or fewer repeats",
        )
    ]


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB"


def _estimate(axis: ir.Axis, axes: dict[str, ir.Axis]) -> int:
    """An axis's size at fixed sizes and bounds (unbounded free axes at 1)."""
    if axis.fixed is not None:
        return max(1, axis.fixed)
    bounds = {}
    for root in axis.size.symbols():
        declared = axes.get(root)
        bounds[root] = declared.bound if declared is not None and declared.bound is not None else 1
    try:
        return max(1, axis.size.evaluate(bounds))
    except (KeyError, ZeroDivisionError, ValueError):
        return 1


def _at(g: nx.MultiDiGraph, node: Any, sources: dict[str, list[str]], code: str, message: str, hint: str) -> Diagnostic:
    d = g.nodes[node].get("span") or {}
    span = Span(d["file"], d["line"], d["col"], d["end_line"], d["end_col"]) if d else None
    lines = sources.get(span.file) if span else None
    line = lines[span.line - 1] if lines and 0 < span.line <= len(lines) else None
    return Diagnostic(code, message, span, hint, line)

"""Cost report: parameters, forward FLOPs and activation memory, read from the IR.

FLOPs follow ``torch.utils.flop_counter``'s convention, so a report can be
checked against a measured forward pass: only the boxes that run as matrix
products or convolutions count, and a multiply-add counts 2. Each op's rule
is its registry entry's ``flops`` (:mod:`ncdl.ir.ops`); they are:

* ``linear``: 2 x (every output element) x (the product of the ``in`` axes);
  the bias add is not counted (torch counts ``addmm`` as its ``mm``).
* ``contract``: 2 x the product of the sizes of every distinct wire the two
  inputs carry (the diagram's rule). A contraction over no axis is an
  elementwise product and counts 0.
* ``conv``: 2 x (every output element) x (``in`` / groups) x (kernel size);
  transposed: 2 x (every input element) x (``out`` / groups) x (kernel size).
* every other box (elementwise, softmax, norms, pooling, embedding lookups,
  wiring) counts 0.

A routed mixture of experts — a ``moe`` whose gates are a ``scatter`` of k
choices over E experts and whose experts the torch backend runs on their
routed rows only (:mod:`ncdl.compiler.passes.route_experts`) — counts its
experts' boxes at k/E of their dense cost: each row reaches exactly k experts.

An attention chain that the torch backend fuses into one
``scaled_dot_product_attention`` counts as its two contractions, as torch's
SDPA formula does; torch's counter has that formula only for its GPU kernels,
so to compare on a CPU register it for ``_scaled_dot_product_flash_attention_for_cpu``
(``FlopCounterMode(custom_mapping=...)``, as ``tests/compiler/test_stats.py`` does).

Activation memory is the bytes of every box's output (4 per float32, 8 per
int64 element) whose registry entry has ``activation`` set: every box but the
model's inputs and outputs, parameter boxes and ``rename`` (a relabelling that
moves no data): what a forward pass allocates
and, in training, what autograd may keep for the backward pass.

Sizes stay symbolic in every free axis the caller does not give: a figure is
an ``int`` once every free root axis it depends on has a size, otherwise the
``str`` of a :class:`ncdl.ir.sizes.Size` polynomial such as ``"1024*batch*seq"``.

Example:
    >>> r = stats(ncdl.architectures.load("gpt").graph("GPT"), {"batch": 1})
    >>> r["flops"]  # still symbolic in seq
    '1589504*seq + 2048*seq^2'
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import networkx as nx

from ncdl.compiler.passes.route_experts import match_moe
from ncdl.ir import OPS, topological
from ncdl.ir.ops import Cost
from ncdl.ir.sizes import Floor, Size

#: Bytes per element of each IR dtype.
DTYPE_BYTES = {"float32": 4, "int64": 8, "bool": 1}


class Stats(dict):
    """The result of :func:`stats`: a dict (JSON-ready, ``r["flops"]``) that
    also reads as attributes (``r.params``, ``r.flops``, ``r.boxes``) and
    prints as the report's tables (``print(r)``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return format_stats(self)

    def __repr__(self) -> str:
        return f"Stats(model={self['model']!r}, params={self['params']:,}, flops={self['flops']!r})"


def stats(g: nx.MultiDiGraph, axis_sizes: dict[str, int]) -> Stats:
    """Parameters, forward FLOPs and activation bytes of the model ``g``.

    ``axis_sizes`` gives free root axes their sizes (``{"batch": 8}``); the
    rest stay symbolic. Returns JSON-ready data: totals, one row per box
    (``boxes``) and one per circuit instance, repeat and iteration
    (``circuits``, summing the boxes inside).

    Raises:
        ValueError: an axis in ``axis_sizes`` is unknown, not free, or over its bound.
    """
    _check_sizes(g, axis_sizes)
    axes = g.graph["axes"]

    def size(axis: str) -> Size:
        return _substitute(axes[axis].size, axis_sizes)

    boxes: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    total_flops, total_bytes, total_params, total_buffers = Size.const(0), Size.const(0), 0, 0
    shares = _routed_shares(g)
    for node in topological(g):
        data = g.nodes[node]
        flops = _flops(g, node, size)
        if node in shares:
            k, experts = shares[node]
            flops = (flops * k).exact_div(experts)
        act = _activation_bytes(data, size)
        params = sum(_count(p["shape"]) for p in data["params"] if not p.get("tied_to"))
        buffers = sum(_count(b["shape"]) for b in data["buffers"])
        total_flops, total_bytes = total_flops + flops, total_bytes + act
        total_params += params
        total_buffers += buffers
        if data["op"] in ("input", "output"):
            continue
        boxes.append(
            {
                "node": node,
                "op": data["op"],
                "name": data["name"],
                "scope": data["scope"],
                "shape": [_value(size(a)) for a in data["axes"]],
                "params": params,
                "flops": _value(flops),
                "activation_bytes": _value(act),
            }
        )
        for path, circuit, kind in data["frames"]:
            row = groups.setdefault(path, {"path": path, "circuit": circuit, "kind": kind, "boxes": 0})
            if kind == "circuit":  # an iteration and the circuit it calls share one path
                row["circuit"], row["kind"] = circuit, kind
        for path in dict.fromkeys(path for path, _, _ in data["frames"]):
            row = groups[path]
            row["boxes"] += 1
            row["params"] = row.get("params", 0) + params
            row["_flops"] = row.get("_flops", Size.const(0)) + flops
            row["_bytes"] = row.get("_bytes", Size.const(0)) + act
    circuits = []
    for row in groups.values():
        flops, act = row.pop("_flops"), row.pop("_bytes")
        circuits.append({**row, "flops": _value(flops), "activation_bytes": _value(act)})
    free = sorted({s for a in axes.values() for s in _substitute(a.size, axis_sizes).symbols()})
    return Stats(
        {
            "model": g.graph["model"],
            "axis_sizes": dict(axis_sizes),
            "free_axes": free,
            "params": total_params,
            "param_bytes": 4 * total_params,
            "buffers": total_buffers,
            "flops": _value(total_flops),
            "activation_bytes": _value(total_bytes),
            "circuits": circuits,
            "boxes": boxes,
        }
    )


def format_stats(result: dict[str, Any]) -> str:
    """The report of :func:`stats` as aligned text for a terminal."""
    lines = [f"model {result['model']}"]
    given = ", ".join(f"{k}={v}" for k, v in result["axis_sizes"].items())
    if given:
        lines.append(f"axis sizes         {given}")
    if result["free_axes"]:
        lines.append(f"free axes          {', '.join(result['free_axes'])} (give sizes with --axis NAME=SIZE)")
    lines.append(f"parameters         {result['params']:,} ({_bytes(result['param_bytes'])} as float32)")
    if result["buffers"]:
        lines.append(f"buffers            {result['buffers']:,}")
    lines.append(f"forward FLOPs      {_number(result['flops'])}")
    lines.append(f"activation memory  {_bytes(result['activation_bytes'])}")
    if result["circuits"]:
        lines += ["", "per circuit instance:"]
        rows = [
            [
                "  " * _depth(r["path"]) + r["path"],
                r["circuit"] if r["kind"] == "circuit" else r["kind"],
                f"{r['params']:,}",
                _number(r["flops"]),
                _bytes(r["activation_bytes"]),
            ]
            for r in result["circuits"]
        ]
        lines += _table(["instance", "circuit", "params", "FLOPs", "activations"], rows)
    lines += ["", "per box:"]
    rows = [
        [
            b["node"],
            b["op"],
            b["scope"] or "-",
            "[" + ", ".join(map(str, b["shape"])) + "]",
            f"{b['params']:,}",
            _number(b["flops"]),
            _bytes(b["activation_bytes"]),
        ]
        for b in result["boxes"]
    ]
    lines += _table(["node", "op", "scope", "shape", "params", "FLOPs", "activations"], rows)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# counting


def _routed_shares(g: nx.MultiDiGraph) -> dict[str, tuple[int, int]]:
    """(k, E) for every node of a routed mixture of experts' region whose gates scatter k choices over E experts."""
    out: dict[str, tuple[int, int]] = {}
    axes = g.graph["axes"]
    for node in g.nodes:
        if g.nodes[node]["op"] != "moe":
            continue
        mark = match_moe(g, node)
        gates = g.nodes[mark["gates"]] if mark else None
        if mark is None or gates["op"] != "scatter":
            continue
        k, experts = axes[gates["attrs"]["axis"]].fixed, axes[mark["expert"]].fixed
        if k is not None and experts is not None:
            out.update(dict.fromkeys(mark["region"], (k, experts)))
    return out


def _flops(g: nx.MultiDiGraph, node: str, size: Any) -> Size:
    """The node's forward FLOPs by its op's rule in the registry (``OpDef.flops``)."""
    data = g.nodes[node]
    inputs = [g.nodes[src]["axes"] for src, _ in g.in_edges(node)]
    return OPS[data["op"]].flops(Cost(data["attrs"], data["axes"], inputs, size))


def _activation_bytes(data: dict[str, Any], size: Any) -> Size:
    if not OPS[data["op"]].activation:
        return Size.const(0)
    return DTYPE_BYTES[data["dtype"]] * _prod(size(a) for a in data["axes"])


def _prod(sizes: Any) -> Size:
    out = Size.const(1)
    for s in sizes:
        out = out * s
    return out


def _count(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _substitute(size: Size, bindings: dict[str, int]) -> Size:
    """``size`` with the given free axes replaced by their values."""
    out = Size.const(0)
    for mono, coef in size.terms.items():
        term = Size.const(Fraction(coef))
        for atom, power in mono:
            if isinstance(atom, Floor):
                base = _substitute(atom.numerator, bindings) // atom.denominator
            else:
                base = Size.const(bindings[atom]) if atom in bindings else Size.symbol(atom)
            for _ in range(power):
                term = term * base
        out = out + term
    return out


def _value(size: Size) -> int | str:
    value = size.as_int()
    return value if value is not None else str(size)


def _check_sizes(g: nx.MultiDiGraph, axis_sizes: dict[str, int]) -> None:
    axes = g.graph["axes"]
    roots = sorted({s for a in axes.values() for s in a.size.symbols()})
    for name, value in axis_sizes.items():
        if name not in axes:
            raise ValueError(
                f"axis '{name}' is not in model {g.graph['model']}; free axes: {', '.join(roots) or 'none'}"
            )
        if name not in roots:
            root = ", ".join(sorted(axes[name].size.symbols()))
            why = f"its size is {axes[name].size}" + (f"; give '{root}'" if root else "")
            raise ValueError(f"axis '{name}' is not a free axis ({why})")
        bound = axes[name].bound
        if value < 1 or (bound is not None and value > bound):
            limit = f" (bound {bound})" if bound is not None else ""
            raise ValueError(f"axis '{name}' = {value} is out of range{limit}")


# ---------------------------------------------------------------------------
# printing


def _number(value: int | str) -> str:
    if isinstance(value, str):
        return value
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit} ({value:,})"
    return f"{value:,}"


def _bytes(value: int | str) -> str:
    if isinstance(value, str):
        return f"{value} B"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} B"


def _depth(path: str) -> int:
    return path.count(".")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {i for i, h in enumerate(header) if h in ("params", "FLOPs", "activations")}
    out = []
    for r in [header, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append("  " + "  ".join(cells).rstrip())
    return out

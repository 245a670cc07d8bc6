"""Run-time requirements on free axes, collected once from the IR and checked by both backends.

A model whose inputs have free axes accepts many sizes, but not every one
makes every box runnable: ``split[seq -> half two]`` needs an even ``seq``, a
``conv(kernel=5)`` on a free ``y`` needs ``y + 2*padding >= 5``, an input
declared with a derived axis (``w: [batch, half]``) must carry exactly
``seq / 2`` there. This module lists those conditions for one model, so the
torch module (:func:`ncdl.compiler.fx.runtime.check_inputs`) and the
onnxruntime :class:`ncdl.runtime.Session` refuse the same inputs with the
same one-line message, instead of a raw kernel error (or, in onnxruntime, a
silently wrong shape).

The rule: every free axis is at least 1 (unless the graph lists it in
``empty_axes``), every axis a box produces from free sizes must come out a
whole number of at least 1, every derived axis of an input must have its
size, and an integer input ``of vocab`` holds indices ``0 .. vocab - 1``. A requirement keeps the box and the source location that imposed it.

One requirement holds only while the torch module trains: ``batchnorm`` takes
its statistics over every axis but the channel, so the product of those axes
must be at least 2 (torch refuses one value per channel, whose unbiased
variance divides by zero). In eval mode, and in onnxruntime, the running
statistics serve and any size runs. When the product is a fixed 1 the checker
refuses the box already (E212).

Example:
    >>> payload = encode(collect(g), g)               # JSON text, stored with the model
    >>> violation(payload, {"v": (3, 4)})              # shapes by input name
    '`v`: axis batch = 3 (dim 0) makes half = batch/2 = 3/2, but split at m.ncd:2:60 needs a whole number'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import networkx as nx

from ncdl.ir.sizes import Floor, Size


@dataclass(frozen=True)
class Requirement:
    """One condition on the inputs' sizes.

    ``axis`` must come out a whole number >= 1 (``input`` is None), or, when
    ``input`` is set, dim ``dim`` of that input must equal ``axis``'s size,
    or (``index``) every value of the integer input ``input`` must lie in
    ``0 .. size - 1`` (it indexes ``axis``), or (``training``) ``size``, the
    values per channel ``axis`` of a batchnorm, must be at least 2 while the
    torch module trains.
    ``box`` names what imposes it (``conv``, ``split``, ``input `w```) and
    ``where`` its source location ``file:line:col``.
    """

    axis: str
    size: Size
    box: str
    where: str
    input: str | None = None
    dim: int | None = None
    index: bool = False
    training: bool = False


def _where(span: Mapping[str, Any]) -> str:
    if not span:
        return "<unknown>"
    return f"{span.get('file', '<string>')}:{span.get('line', 0)}:{span.get('col', 0)}"


def _is_root(size: Size) -> bool:
    """True for the plain size of a free axis (``seq``), which every input check already covers."""
    if len(size.terms) != 1:
        return False
    ((mono, coef),) = size.terms.items()
    return coef == 1 and len(mono) == 1 and isinstance(mono[0][0], str) and mono[0][1] == 1


#: Boxes that index with an integer tensor, and its port: an input read there must hold indices of its ``of``
#: axis (an offset of ``positions`` is declared ``of seq`` too, but may run past it).
_INDEX_PORTS = {"embed": 0, "gather": 1, "scatter": 1}


def collect(g: nx.MultiDiGraph) -> list[Requirement]:
    """Every run-time requirement of the model ``g``, in topological order (inputs first)."""
    bound = set(g.graph["bindings"])
    axes = g.graph["axes"]
    out: list[Requirement] = []
    seen: set[Size] = set()
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        for dim, axis in enumerate(data["axes"]):
            size = axes[axis].size
            if size.is_const() or _is_root(size) or not size.symbols() <= bound:
                continue
            name = data["attrs"]["name"]
            out.append(Requirement(axis, size, f"input `{name}`", _where(data["span"]), name, dim))
            seen.add(size)
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        of = data["attrs"].get("of")
        indexes = any(_INDEX_PORTS.get(g.nodes[dst]["op"]) == e["port"] for _, dst, e in g.out_edges(node, data=True))
        if indexes and data["dtype"] == "int64" and of in axes and axes[of].size.symbols() <= bound:
            name = data["attrs"]["name"]
            out.append(Requirement(of, axes[of].size, f"input `{name}`", _where(data["span"]), name, None, True))
    for node in nx.topological_sort(g):
        data = g.nodes[node]
        if data["op"] in ("input", "output"):
            continue
        carried = {a for _, _, e in g.in_edges(node, data=True) for a in e["axes"]}
        for axis in data["axes"]:
            size = axes[axis].size
            if axis in carried or size in seen or size.is_const() or _is_root(size):
                continue
            if not size.symbols() <= bound:
                continue  # an opaque size of a generic circuit: nothing at run time to compare it with
            seen.add(size)
            out.append(Requirement(axis, size, data["op"], _where(data["span"])))
        if data["op"] == "batchnorm":
            channel = data["attrs"]["axis"]
            per_channel = Size.const(1)
            for axis in data["axes"]:
                if axis != channel:
                    per_channel = per_channel * axes[axis].size
            if not per_channel.is_const() and per_channel.symbols() <= bound:
                out.append(Requirement(channel, per_channel, "batchnorm", _where(data["span"]), training=True))
    return out


def encode(requirements: Sequence[Requirement], g: nx.MultiDiGraph) -> str:
    """The requirements and where each free axis is read (input name, dim), as JSON text ("" when none)."""
    if not requirements and not g.graph["bindings"]:
        return ""
    bindings = {
        symbol: [g.nodes[node]["attrs"]["name"], dim] for symbol, (node, dim) in sorted(g.graph["bindings"].items())
    }
    rows = [
        {
            "axis": r.axis,
            "size": r.size.to_json(),
            "box": r.box,
            "where": r.where,
            "input": r.input,
            "dim": r.dim,
            "index": r.index,
            "training": r.training,
        }
        for r in requirements
    ]
    empty = sorted(g.graph.get("empty_axes", []))
    return json.dumps({"bindings": bindings, "empty": empty, "requirements": rows}, separators=(",", ":"))


class BadRequirements(ValueError):
    """The requirements text is not what :func:`encode` writes (a damaged or crafted model file)."""


def decode(text: str) -> tuple[dict[str, tuple[str, int]], tuple[Requirement, ...]]:
    """Inverse of :func:`encode` without the empty axes (see :func:`_decode`)."""
    bindings, _, reqs = _decode(text)
    return bindings, reqs


@lru_cache(maxsize=64)
def _decode(text: str) -> tuple[dict[str, tuple[str, int]], frozenset[str], tuple[Requirement, ...]]:
    """Inverse of :func:`encode`; raise :class:`BadRequirements` on anything else."""
    try:
        if len(text) > 1 << 20:
            raise ValueError("over 1 MB")
        data = json.loads(text)
        bindings = {str(k): (str(v[0]), _index(v[1])) for k, v in data["bindings"].items()}
        empty = frozenset(str(a) for a in data.get("empty", []))
        reqs = tuple(
            Requirement(
                str(r["axis"]),
                Size.from_json(r["size"]),
                str(r["box"]),
                str(r["where"]),
                None if r["input"] is None else str(r["input"]),
                None if r["dim"] is None else _index(r["dim"]),
                r.get("index") is True,
                r.get("training") is True,
            )
            for r in data["requirements"]
        )
        for r in reqs:
            _bounded(r.size)
            if not r.size.symbols() <= set(bindings):
                raise ValueError("unbound axis")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, AssertionError, ArithmeticError) as exc:
        raise BadRequirements(f"the model's ncdl.requirements metadata is damaged ({exc})") from None
    return bindings, empty, reqs


def _bounded(size: Size, depth: int = 0) -> None:
    """Refuse sizes no checker writes (deep floors, high powers), so evaluating one stays cheap."""
    if depth > 64 or len(size.terms) > 256:
        raise ValueError("size too large")
    for mono in size.terms:
        for atom, power in mono:
            if not 1 <= power <= 8:
                raise ValueError(f"power {power}")
            if isinstance(atom, Floor):
                if atom.denominator < 1:
                    raise ValueError(f"floor by {atom.denominator}")
                _bounded(atom.numerator, depth + 1)


def _index(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 64:
        raise ValueError(f"bad dim {value!r}")
    return value


def exact(size: Size, values: Mapping[str, int]) -> Fraction:
    """The exact value of ``size`` (a Fraction: an inexact division stays a fraction)."""
    total = Fraction(0)
    for mono, coef in size.terms.items():
        term = Fraction(coef)
        for atom, power in mono:
            base = Fraction(values[atom]) if isinstance(atom, str) else _floor(atom, values)
            term *= base**power
        total += term
    return total


def _floor(atom: Floor, values: Mapping[str, int]) -> Fraction:
    return Fraction(math.floor(exact(atom.numerator, values) / atom.denominator))


def index_inputs(text: str) -> list[str]:
    """The integer inputs whose values :func:`violation` checks (it needs their ``ranges``)."""
    return [r.input for r in decode(text)[1] if r.index and r.input is not None]


def violation(
    text: str,
    shapes: Mapping[str, Sequence[int]],
    ranges: Mapping[str, tuple[int, int]] | None = None,
    training: bool = False,
) -> str | None:
    """The first requirement in ``text`` (from :func:`encode`) that ``shapes`` break, as one line; else None.

    ``shapes`` maps each input name to its shape; the inputs' own checks (rank,
    fixed sizes, one free axis the same everywhere) have passed already.
    ``ranges`` gives the (smallest, largest) value of each non-empty input of
    :func:`index_inputs`; an input left out is not checked. The requirements of
    training (``Requirement.training``) count only when ``training`` is true.
    """
    bindings, empty, reqs = _decode(text)
    values: dict[str, int] = {}
    for symbol, (name, dim) in bindings.items():
        shape = shapes.get(name)
        if shape is None or dim >= len(shape):
            raise BadRequirements(f"the model's ncdl.requirements metadata names no dim {dim} of `{name}`")
        values[symbol] = int(shape[dim])
        if values[symbol] < 1 and symbol not in empty:
            return f"`{name}`: axis {symbol} is {values[symbol]} at dim {dim}; a free axis needs at least 1"
    for r in reqs:
        if r.training and not training:
            continue
        value = exact(r.size, values)
        if r.training:
            if value < 2:
                return (
                    f"{_inputs(r.size, bindings, values, lead=True)} makes {_fmt(value)} value per {r.axis}, "
                    f"but {r.box} at {r.where} needs at least 2 to take statistics over in training"
                )
            continue
        if r.index:
            lo, hi = (ranges or {}).get(r.input or "", (0, 0))
            bad = lo if lo < 0 else hi if hi >= value else None
            if bad is not None:
                return (
                    f"`{r.input}`: holds the index {bad}, outside 0..{_fmt(value - 1)} "
                    f"(axis {r.axis} = {_fmt(value)}), as declared at {r.where}"
                )
            continue
        if r.input is not None:
            got = int(shapes[r.input][r.dim]) if r.dim is not None and r.dim < len(shapes[r.input]) else None
            if got != value:
                return (
                    f"`{r.input}`: axis {r.axis} is {got} at dim {r.dim}, but {r.axis} = {r.size} = {_fmt(value)}"
                    f" from {_inputs(r.size, bindings, values)}, as declared at {r.where}"
                )
            continue
        if value.denominator != 1:
            return (
                f"{_inputs(r.size, bindings, values, lead=True)} makes {r.axis} = {r.size} = {_fmt(value)}, "
                f"but {r.box} at {r.where} needs a whole number"
            )
        if value < 1:
            return (
                f"{_inputs(r.size, bindings, values, lead=True)} makes {r.axis} = {r.size} = {_fmt(value)}, "
                f"but {r.box} at {r.where} needs at least 1"
            )
    return None


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _inputs(size: Size, bindings: Mapping[str, tuple[str, int]], values: Mapping[str, int], lead: bool = False) -> str:
    """``\\`v\\`: axis y = 1 (dim 1)`` for each free axis ``size`` reads, the first led by its input."""
    parts = []
    for symbol in sorted(size.symbols()):
        name, dim = bindings[symbol]
        parts.append(f"`{name}`: axis {symbol} = {values[symbol]} (dim {dim})")
    if not lead:
        return ", ".join(p.replace("`: axis", "` axis", 1) for p in parts)
    return parts[0] + "".join(", " + p.replace("`: axis", "` axis", 1) for p in parts[1:])

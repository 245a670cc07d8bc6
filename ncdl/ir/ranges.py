"""The values an integer wire can hold, proved from how it is computed.

An index computed from positions (Swin's relative position index,
``(i - j + ty - 1) * (2 * tx - 1) + ...``) is in range because of its
arithmetic, not because anything checks it when the model runs. This module
proves such facts: a :class:`Range` is a pair of symbolic bounds (sizes in the
normal form of :mod:`ncdl.ir.sizes`), each op's registry entry says how its
result's range follows from its inputs' (``OpDef.ints``, rules below), and
:func:`ncdl.ir.graph.integer_range` walks a graph with them.

The rules are interval arithmetic over the sizes of axes. Free sizes are
symbols; every free axis is at least 1 when the model runs (or the tensor
carrying it is empty, and any claim about its values holds), so a bound is
compared by :func:`nonneg`, which substitutes ``1 + t`` for each free size
and asks that every coefficient come out non-negative: a sufficient test,
never a guess. What no rule covers (an input's values, a float turned into an
integer) has no range (None).

Example:
    >>> seq = Size.symbol("seq")
    >>> nonneg(2 * seq - 1), nonneg(seq - 2)
    (True, False)
    >>> i = positions({"axis": "seq"}, [], lambda axis: seq)
    >>> d = sub({"const": None, "const_left": False}, [i, i], lambda axis: seq)
    >>> str(d)
    '-seq + 1..seq + -1'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ncdl.ir.sizes import Floor, Size, SizeTooLarge


@dataclass(frozen=True)
class Range:
    """Every value of an integer wire lies in ``lo .. hi`` (both included)."""

    lo: Size
    hi: Size

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


#: How an op's integer result ranges, from its attributes, its inputs' ranges (in port order) and the size of an
#: axis; None when nothing is known.
IntRule = Callable[[dict[str, Any], Sequence[Range], Callable[[str], Size]], "Range | None"]


def nonneg(size: Size) -> bool:
    """True when ``size`` is at least 0 for every value of at least 1 of its free axes (proved, see the module doc).

    A floor term counts as a further non-negative unknown when its numerator is provably non-negative.
    """
    try:
        shifted = Size.const(0)
        for mono, coef in size.terms.items():
            term = Size.const(coef)
            for atom, power in mono:
                if isinstance(atom, Floor):
                    if not nonneg(atom.numerator):
                        return False
                    base = Size.symbol(str(atom))
                else:
                    base = Size.symbol(atom) + 1
                for _ in range(power):
                    term = term * base
            shifted = shifted + term
    except SizeTooLarge:
        return False
    return all(c >= 0 for c in shifted.terms.values())


def le(a: Size, b: Size) -> bool:
    """True when ``a <= b`` is proved."""
    return nonneg(b - a)


def _least(*sizes: Size) -> Size | None:
    """The size proved no larger than every other one; None when no single one is."""
    return next((s for s in sizes if all(le(s, t) for t in sizes)), None)


def _most(*sizes: Size) -> Size | None:
    return next((s for s in sizes if all(le(t, s) for t in sizes)), None)


def _range(lo: Size | None, hi: Size | None) -> Range | None:
    return None if lo is None or hi is None else Range(lo, hi)


def _const(attrs: dict[str, Any]) -> Size:
    return Size.const(Fraction(attrs["const"]))


def _point(value: float) -> Range:
    return Range(Size.const(Fraction(value)), Size.const(Fraction(value)))


def union(ranges: Sequence[Range]) -> Range | None:
    """A range holding every one of ``ranges`` (None when their bounds cannot be ordered)."""
    return _range(_least(*(r.lo for r in ranges)), _most(*(r.hi for r in ranges)))


# the rules of the op registry -------------------------------------------------------------------------


def same(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """Wiring: the values of input 0, moved or repeated (rename, split, select, gather's picked entries, ...)."""
    return ins[0]


def joined(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """Concatenation: the values of every input."""
    return union(ins)


def padded(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """Padding: the input's values, and the constant ``value`` unless the mode copies existing ones."""
    return ins[0] if attrs["mode"] != "constant" else union([ins[0], _point(attrs["value"])])


def positions(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``0 .. n - 1``, shifted by the offset's range when there is one."""
    last = size(attrs["axis"]) - 1
    if not ins:
        return Range(Size.const(0), last)
    return Range(ins[0].lo, ins[0].hi + last)


def argtopk(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """Indices into ``axis``: ``0 .. n - 1``."""
    return Range(Size.const(0), size(attrs["axis"]) - 1)


def add(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``a + b`` or ``a + c``."""
    if len(ins) == 1:
        c = _const(attrs)
        return Range(ins[0].lo + c, ins[0].hi + c)
    return Range(ins[0].lo + ins[1].lo, ins[0].hi + ins[1].hi)


def sub(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``a - b``, ``a - c`` or ``c - a``."""
    if len(ins) == 2:
        return Range(ins[0].lo - ins[1].hi, ins[0].hi - ins[1].lo)
    c, x = _const(attrs), ins[0]
    return Range(c - x.hi, c - x.lo) if attrs["const_left"] else Range(x.lo - c, x.hi - c)


def neg(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``-a``."""
    return Range(-ins[0].hi, -ins[0].lo)


def mul(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``a * c`` for any constant; ``a * b`` when both are proved non-negative."""
    if len(ins) == 1:
        c = Fraction(attrs["const"])
        lo, hi = ins[0].lo * Size.const(c), ins[0].hi * Size.const(c)
        return Range(lo, hi) if c >= 0 else Range(hi, lo)
    a, b = ins
    if nonneg(a.lo) and nonneg(b.lo):
        return Range(a.lo * b.lo, a.hi * b.hi)
    return None


def minimum(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``min(a, b)`` or ``min(a, c)``."""
    other = ins[1] if len(ins) == 2 else _point(attrs["const"])
    return _range(_least(ins[0].lo, other.lo), _least(ins[0].hi, other.hi))


def maximum(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """``max(a, b)`` or ``max(a, c)``."""
    other = ins[1] if len(ins) == 2 else _point(attrs["const"])
    return _range(_most(ins[0].lo, other.lo), _most(ins[0].hi, other.hi))


def where(attrs: dict[str, Any], ins: Sequence[Range], size: Callable[[str], Size]) -> Range | None:
    """Either branch: the tensor branches (inputs after the condition) and the constants standing for others."""
    branches = list(ins[1:])
    branches += [_point(attrs[key]) for key in ("then", "otherwise") if attrs[key] is not None]
    return union(branches)

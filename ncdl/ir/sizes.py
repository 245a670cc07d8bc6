"""Symbolic axis sizes in a normal form.

A size is an integer, a free axis (bound when the model runs), or an
expression over free axes such as ``2*seq`` or ``floor((y + -1)/2) + 1``.
Sizes are kept as polynomials with rational coefficients whose atoms are free
axis names and floor-division terms, so that two sizes are equal exactly when
their normal forms are equal. Where the normal forms differ the checker says
"cannot prove", never guesses.

The normal form folds nested floors, ``floor((floor(a/m) + k)/n)`` to
``floor((a + k*m)/(m*n))`` for an integer ``k``, and pulls whole multiples
out of a floor and cancels common factors (``floor((2*y + -4)/4)`` is
``floor((y)/2) + -1``), so that a
chain of strided convolutions keeps one floor. A size never holds more than
:data:`MAX_SIZE_NODES` atoms and terms: a larger one raises
:class:`SizeTooLarge` (the checker turns it into diagnostic E201), so that no
size arithmetic costs more than a bounded amount of work. The printed form
and the comparison key are computed once per size.

Example:
    >>> y = Size.symbol("y")
    >>> str((y + 2 - 3) // 2 + 1)
    'floor((y + -1)/2) + 1'
    >>> (y * 2) // 2 == y
    True
    >>> str(((y + -2) // 2 + -1) // 2)
    'floor((y)/4) + -1'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

#: Most atoms and terms one size may hold (a nested ``floor`` counts its numerator's).
MAX_SIZE_NODES = 2_000


class SizeTooLarge(ArithmeticError):
    """A size would hold more than :data:`MAX_SIZE_NODES` atoms and terms."""


# An atom is a free axis name or a Floor term; a monomial is a sorted tuple of
# (atom, power) pairs.
Atom = Union[str, "Floor"]
Monomial = tuple[tuple[Atom, int], ...]


def _atom_key(atom: Atom) -> str:
    return atom if isinstance(atom, str) else f"~{atom}"


def _atom_nodes(atom: Atom) -> int:
    return 1 if isinstance(atom, str) else 1 + atom.numerator.nodes


@dataclass(frozen=True)
class Floor:
    """``floor(numerator / denominator)`` for a symbolic numerator."""

    numerator: Size
    denominator: int

    def __str__(self) -> str:
        return f"floor(({self.numerator})/{self.denominator})"


class Size:
    """An exact, hashable axis size: a polynomial over free axes."""

    __slots__ = ("terms", "nodes", "_str", "_keyv")

    def __init__(self, terms: Mapping[Monomial, Fraction] | None = None) -> None:
        self.terms: dict[Monomial, Fraction] = {m: c for m, c in (terms or {}).items() if c != 0}
        #: Atoms and terms, nested floors included: the cost of any arithmetic on this size.
        self.nodes = sum(1 + sum(_atom_nodes(a) for a, _ in m) for m in self.terms)
        if self.nodes > MAX_SIZE_NODES:
            raise SizeTooLarge(f"a size grows past {MAX_SIZE_NODES:,} terms")
        self._str: str | None = None
        self._keyv: tuple | None = None

    # construction -------------------------------------------------------
    @staticmethod
    def const(value: int | Fraction) -> Size:
        """A constant size (sizes are never changed once made, so one object serves every use of a constant)."""
        return _const(value)

    @staticmethod
    def symbol(name: str) -> Size:
        """The size of the free axis ``name``."""
        return Size({((name, 1),): Fraction(1)})

    @staticmethod
    def of(value: int | Size) -> Size:
        """Coerce an int to a Size."""
        return value if isinstance(value, Size) else Size.const(value)

    # queries ------------------------------------------------------------
    def is_const(self) -> bool:
        """True when the size has no free axes."""
        return all(m == () for m in self.terms)

    def constant(self) -> Fraction:
        """The constant value; only for :meth:`is_const` sizes."""
        return self.terms.get((), Fraction(0))

    def as_int(self) -> int | None:
        """The integer value, or None when symbolic or fractional."""
        if not self.is_const():
            return None
        c = self.constant()
        return int(c) if c.denominator == 1 else None

    def symbols(self) -> set[str]:
        """Every free axis name the size depends on."""
        out: set[str] = set()
        for mono in self.terms:
            for atom, _ in mono:
                if isinstance(atom, str):
                    out.add(atom)
                else:
                    out |= atom.numerator.symbols()
        return out

    # arithmetic ---------------------------------------------------------
    def __add__(self, other: int | Size) -> Size:
        other = Size.of(other)
        terms = dict(self.terms)
        for m, c in other.terms.items():
            terms[m] = terms.get(m, Fraction(0)) + c
        return Size(terms)

    __radd__ = __add__

    def __neg__(self) -> Size:
        return Size({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: int | Size) -> Size:
        return self + (-Size.of(other))

    def __rsub__(self, other: int | Size) -> Size:
        return Size.of(other) - self

    def __mul__(self, other: int | Size) -> Size:
        other = Size.of(other)
        if len(self.terms) * len(other.terms) > MAX_SIZE_NODES:
            raise SizeTooLarge(f"a size grows past {MAX_SIZE_NODES:,} terms")
        terms: dict[Monomial, Fraction] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                powers: dict[Atom, int] = {}
                for atom, p in m1 + m2:
                    powers[atom] = powers.get(atom, 0) + p
                mono = tuple(sorted(powers.items(), key=lambda ap: _atom_key(ap[0])))
                terms[mono] = terms.get(mono, Fraction(0)) + c1 * c2
        return Size(terms)

    __rmul__ = __mul__

    def exact_div(self, divisor: int | Size) -> Size | None:
        """``self / divisor`` when it is exact; None when it provably is not.

        Division by a symbolic size is exact only when the divisor is a
        single monomial that divides every term.
        """
        divisor = Size.of(divisor)
        if divisor.is_const():
            d = divisor.constant()
            if d == 0:
                return None
            if self.is_const():
                q = self.constant() / d
                return Size.const(q) if q.denominator == 1 else None
            return Size({m: c / d for m, c in self.terms.items()})
        if len(divisor.terms) != 1:
            return None
        ((dmono, dcoef),) = divisor.terms.items()
        dpow = dict(dmono)
        terms: dict[Monomial, Fraction] = {}
        for mono, coef in self.terms.items():
            powers = dict(mono)
            for atom, p in dpow.items():
                if powers.get(atom, 0) < p:
                    return None
                powers[atom] -= p
            new = tuple(sorted(((a, p) for a, p in powers.items() if p), key=lambda ap: _atom_key(ap[0])))
            terms[new] = coef / dcoef
        return Size(terms)

    def __floordiv__(self, divisor: int) -> Size:
        if divisor <= 0:
            raise ZeroDivisionError("floor division of a size by a non-positive number")
        if self.is_const():
            c = self.constant()
            return Size.const(Fraction(c.numerator // (c.denominator * divisor)))
        # floor((n*T + R)/n) == T + floor(R/n) for an integer-valued T
        whole = {m: c / divisor for m, c in self.terms.items() if (c / divisor).denominator == 1}
        rest = Size({m: c for m, c in self.terms.items() if m not in whole})
        outside = Size(whole)
        if not rest.terms:
            return outside
        if all(c.denominator == 1 for c in rest.terms.values()):  # floor(g*a/(g*n)) == floor(a/n)
            common = math.gcd(divisor, *(int(c) for c in rest.terms.values()))
            if common > 1:
                return outside + Size({m: c / common for m, c in rest.terms.items()}) // (divisor // common)
        constant = rest.constant()
        inner = [(m, c) for m, c in rest.terms.items() if m != ()]
        if constant.denominator == 1 and len(inner) == 1:
            ((mono, coef),) = inner
            if coef == 1 and len(mono) == 1 and isinstance(mono[0][0], Floor) and mono[0][1] == 1:
                # floor((floor(a/m) + k)/n) == floor((a + k*m)/(m*n)) for an integer k
                atom = mono[0][0]
                folded = (atom.numerator + constant * atom.denominator) // (atom.denominator * divisor)
                return outside + folded
        return outside + Size({((Floor(rest, divisor), 1),): Fraction(1)})

    # evaluation ---------------------------------------------------------
    def evaluate(self, bindings: Mapping[str, int]) -> int:
        """The integer value once every free axis has a value."""
        return int(self._exact(bindings))  # a fractional size (an inexact `/` of a free axis) truncates

    def _exact(self, bindings: Mapping[str, int]) -> Fraction:
        total = Fraction(0)
        for mono, coef in self.terms.items():
            value = Fraction(coef)
            for atom, p in mono:
                if isinstance(atom, str):
                    base = Fraction(bindings[atom])
                else:
                    base = Fraction(math.floor(atom.numerator._exact(bindings) / atom.denominator))
                value *= base**p
            total += value
        return total

    # comparison and printing ---------------------------------------------
    def _key(self) -> tuple:
        if self._keyv is None:
            self._keyv = tuple(sorted((tuple((_atom_key(a), p) for a, p in m), c) for m, c in self.terms.items()))
        return self._keyv

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            other = Size.const(other)
        return isinstance(other, Size) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        if self._str is None:
            self._str = self._format()
        return self._str

    def _format(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for mono, coef in sorted(self.terms.items(), key=lambda mc: (len(mc[0]) == 0, str(mc[0]))):
            factors = [a if p == 1 else f"{a}^{p}" for a, p in ((str(a), p) for a, p in mono)]
            if not factors:
                parts.append(_fmt(coef))
            elif coef == 1:
                parts.append("*".join(factors))
            elif coef.denominator != 1 and coef.numerator == 1:
                parts.append("*".join(factors) + f"/{coef.denominator}")
            else:
                parts.append(_fmt(coef) + "*" + "*".join(factors))
        return " + ".join(parts)

    def __repr__(self) -> str:
        return f"Size({self})"

    # JSON -----------------------------------------------------------------
    def to_json(self) -> list:
        """A JSON-serialisable form that :meth:`from_json` reads back."""
        return [
            [[_atom_json(a), p] for a, p in mono] + [[c.numerator, c.denominator]]
            for mono, c in sorted(self.terms.items(), key=lambda mc: str(mc[0]))
        ]

    @staticmethod
    def from_json(data: list) -> Size:
        """Inverse of :meth:`to_json`."""
        terms: dict[Monomial, Fraction] = {}
        for term in data:
            *factors, (num, den) = term
            mono = tuple(sorted(((_atom_from_json(a), p) for a, p in factors), key=lambda ap: _atom_key(ap[0])))
            terms[mono] = Fraction(num, den)
        return Size(terms)


def _fmt(c: Fraction) -> str:
    return str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def _atom_json(atom: Atom) -> object:
    return atom if isinstance(atom, str) else {"floor": atom.numerator.to_json(), "by": atom.denominator}


def _atom_from_json(data: object) -> Atom:
    if isinstance(data, str):
        return data
    assert isinstance(data, dict)
    return Floor(Size.from_json(data["floor"]), int(data["by"]))


@functools.lru_cache(maxsize=4096)
def _const(value: int | Fraction) -> Size:
    # a `repeat` that compares its index makes the same few constants again and again
    return Size({(): Fraction(value)})

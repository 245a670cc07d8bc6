"""The syntax tree: small dataclasses, each with the span it came from.

The parser builds these and nothing else; every semantic rule lives in the
checker. Size expressions (``S*`` nodes) are the compile-time language of
axes and integers; the other expressions compute tensors and scalars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ncdl.dsl.diagnostics import Span

# ---- size expressions --------------------------------------------------


@dataclass
class SName:
    """A name in a size expression: an axis, an integer parameter."""

    name: str
    span: Span


@dataclass
class SInt:
    """An integer literal in a size expression."""

    value: int
    span: Span


@dataclass
class SBin:
    """``left op right`` with op one of ``+ - * / //``."""

    op: str
    left: SExpr
    right: SExpr
    span: Span


SExpr = SName | SInt | SBin


@dataclass
class Cmp:
    """A compile-time comparison ``left op right``."""

    op: str
    left: SExpr
    right: SExpr
    span: Span


@dataclass
class BoolOp:
    """``and`` / ``or`` of two conditions, or ``not`` (right is None)."""

    op: str
    left: Cond
    right: Cond | None
    span: Span


@dataclass
class Test:
    """A bare name as a condition: a bool parameter, or whether an optional argument was given."""

    name: str
    span: Span


Cond = Cmp | BoolOp | Test

# ---- brackets ------------------------------------------------------------


@dataclass
class BMap:
    """A bracket item: a group of axes, optionally ``-> group``."""

    lhs: list[SExpr]
    rhs: list[SExpr] | None
    span: Span


@dataclass
class BKw:
    """A bracket item ``name = value`` (binds a circuit parameter): a size
    expression, or a float or bool constant (:class:`Number`, :class:`Bool`)."""

    name: str
    value: SExpr | Number | Bool
    span: Span


BItem = BMap | BKw

# ---- tensor / scalar expressions ------------------------------------------


@dataclass
class Name:
    """A value, integer parameter or axis used as a number."""

    name: str
    span: Span


@dataclass
class Number:
    """A numeric literal."""

    value: float
    is_int: bool
    span: Span


@dataclass
class String:
    """A string literal (keyword option values only)."""

    value: str
    span: Span


@dataclass
class Bool:
    """``true`` or ``false``."""

    value: bool
    span: Span


@dataclass
class TupleExpr:
    """``(a, b, ...)`` (keyword option values only)."""

    items: list[Expr]
    span: Span


@dataclass
class BinOp:
    """``left op right`` with op one of ``+ - * / **``, a comparison ``< <= > >= == !=``, ``and``, ``or``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass
class Neg:
    """``-operand``."""

    operand: Expr
    span: Span


@dataclass
class Not:
    """``not operand`` (a bool tensor)."""

    operand: Expr
    span: Span


@dataclass
class Kwarg:
    """``name = value`` in a call."""

    name: str
    value: Expr
    span: Span


@dataclass
class Call:
    """``func[brackets](args) as label``; chains desugar to calls.

    ``func_span`` locates the callee name; ``span`` the whole call.
    ``from_chain`` is set when the first argument came from ``x -> f``.
    """

    func: str
    func_span: Span
    brackets: list[BItem] | None
    args: list[Expr]
    kwargs: list[Kwarg]
    label: str | None
    span: Span
    brackets_span: Span | None = None
    from_chain: bool = False


Expr = Name | Number | String | Bool | TupleExpr | BinOp | Neg | Not | Call

# ---- statements and declarations -----------------------------------------


@dataclass
class Assign:
    """``name = value``, or ``a, b = value`` unpacking several results."""

    names: list[str]
    value: Expr
    span: Span

    @property
    def name(self) -> str:
        """The first (usually the only) name assigned."""
        return self.names[0]


@dataclass
class Return:
    """``return value`` or ``return a, b`` (several results)."""

    values: list[Expr]
    span: Span

    @property
    def value(self) -> Expr:
        """The first (usually the only) value returned."""
        return self.values[0]


@dataclass
class Repeat:
    """``repeat [index in] count [as label] { body }``."""

    count: SExpr
    label: str | None
    body: list[Stmt]
    span: Span
    index: str | None = None


@dataclass
class If:
    """``if cond { then } else { otherwise }``."""

    cond: Cond
    then: list[Stmt]
    otherwise: list[Stmt]
    span: Span


Stmt = Assign | Return | Repeat | If


@dataclass
class TypeExpr:
    """``[a, b]``, ``int[a, b] of vocab``, ``bool[a, b]`` (dtype ``float``, ``int`` or ``bool``)."""

    dtype: str
    axes: list[SExpr]
    of: str | None
    span: Span
    of_span: Span | None = None


@dataclass
class ArgDecl:
    """``name: type`` in a circuit signature; ``name: type?`` may be left out at a call."""

    name: str
    type: TypeExpr
    span: Span
    optional: bool = False


@dataclass
class ResultDecl:
    """One result type of a signature, ``[a, b]`` or ``name: [a, b]``."""

    name: str | None
    type: TypeExpr
    span: Span


@dataclass
class ParamDecl:
    """``name``, ``name: int``, ``eps: float = 1e-5``, ``name = default`` in circuit brackets."""

    name: str
    kind: str | None
    default: SExpr | Number | Bool | None
    span: Span


@dataclass
class CircuitDecl:
    """A circuit (or a model: a circuit marked as a compile target)."""

    name: str
    is_model: bool
    params: list[ParamDecl]
    args: list[ArgDecl]
    results: list[ResultDecl]
    body: list[Stmt]
    span: Span
    name_span: Span
    file: str = ""
    alias_of: str | None = None  # set for `model A = B[...]`: the base's name

    @property
    def result(self) -> TypeExpr:
        """The first (usually the only) result type."""
        return self.results[0].type


@dataclass
class ModelAlias:
    """``model Name = Base[param = value, ...]``: ``Base`` (a model or a
    circuit) as a model with other parameter values. Resolved by the checker
    into a :class:`CircuitDecl` (:mod:`ncdl.dsl.families`)."""

    name: str
    is_model: bool
    base: str
    base_span: Span
    bindings: list[BItem]
    span: Span
    name_span: Span
    file: str = ""

    @property
    def result(self) -> TypeExpr:
        """The first (usually the only) result type."""
        return self.results[0].type


@dataclass
class AxisDecl:
    """``axis name``, ``name <= bound``, ``name ~ other``, ``name = size``."""

    name: str
    kind: str  # "free" | "bounded" | "alias" | "sized"
    value: SExpr | None
    alias: str | None
    span: Span
    alias_span: Span | None = None


@dataclass
class UseDecl:
    """``use "file.ncd"``."""

    path: str
    span: Span


@dataclass
class Module:
    """One parsed file."""

    file: str
    uses: list[UseDecl] = field(default_factory=list)
    axes: list[AxisDecl] = field(default_factory=list)
    circuits: list[CircuitDecl] = field(default_factory=list)
    aliases: list[ModelAlias] = field(default_factory=list)

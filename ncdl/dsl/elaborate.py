"""Elaboration: a model's syntax tree to its flat, typed IR.

Circuits are inlined at each call site (each an instance with its own
weights and scope path), ``repeat`` and ``if`` are unrolled at compile time,
and every box's axes are inferred and checked. Every mistake becomes a
diagnostic; elaboration carries on past it (with a poisoned value) so that
independent mistakes are reported in one run.

This module knows no box by name: the checker hands the elaborator the
primitive table and the circuit caller (:class:`Boxes`), so that
``primitives``, ``options`` and ``circuits`` may import this module and
nothing here imports them (the front end's imports point one way).
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ncdl import ir
from ncdl.dsl import ast
from ncdl.dsl.budget import BOX_WORK, CONDITION_WORK, WORK_HINT, Budget, max_boxes, tree_size
from ncdl.dsl.diagnostics import Diagnostic, Span, did_you_mean, fmt_axes
from ncdl.dsl.replay import CallMemo, Iteration, reads_index
from ncdl.dsl.values import DTYPES, POISON, Env, Result, Value, _Poison
from ncdl.ir.sizes import MAX_SIZE_NODES, Size, SizeTooLarge

#: Limits that keep hostile programs from exhausting time or memory.
MAX_REPEAT = 10_000
MAX_RECURSION = 64
MAX_AXIS_SIZE = 2**31 - 1
MAX_EXPR_DEPTH = 400


SIZE_HINT = (
    "sizes that each use the one before twice (`a // 2 + a // 3`) double their terms: give the axis a fixed size"
)

RESULTS_HINT = "return as many values as `->` declares: `return a, b` for `-> ([...], [...])`"

_KIND = {"int64": "an integer", "float32": "a float", "bool": "a boolean"}

#: The order comparisons of ``if a < b``.
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Boxes:
    """What a call may name, handed in by the checker (:func:`ncdl.dsl.check.check_source`).

    ``primitives`` is the table of primitive boxes (name -> rule); ``call_primitive``,
    ``binary`` (``a + b`` and the other infix operators) and ``elementwise``
    (``-x``) apply them; ``call_circuit`` inlines a user circuit.
    """

    primitives: Mapping[str, Any]
    call_primitive: Callable[[Elaborator, ast.Call, Env, str | None], Result]
    binary: Callable[[Elaborator, ast.BinOp, Result, Result, Env], Result]
    elementwise: Callable[[Elaborator, str, Value, Env, Span], Result]
    call_circuit: Callable[[Elaborator, ast.Call, Env, str | None], Result]


class Abort(Exception):
    """Stop elaborating this model (a limit was hit); diagnostics are recorded."""


class Elaborator:
    """Builds the IR of one model; collects diagnostics instead of raising."""

    def __init__(
        self,
        model: ast.CircuitDecl | None,
        circuits: dict[str, ast.CircuitDecl],
        axes: dict[str, ir.Axis],
        global_axes: set[str],
        sources: dict[str, list[str]],
        boxes: Boxes,
        *,
        generic: bool = False,
    ) -> None:
        self.model = model
        self.boxes = boxes
        #: Checking a circuit at its definition (see :mod:`ncdl.dsl.generic`): its
        #: parameters are opaque symbols, and what depends on their values is
        #: left to each call site.
        self.generic = generic
        self.opaque: set[str] = set()
        #: Drawing a generic circuit (``ncdl render --circuit``): a number read from an
        #: axis without a fixed size (``sqrt(head)``) takes a stand-in value, kept here
        #: and in ``g.graph["stand_ins"]``, so the circuit is drawn with its axes
        #: symbolic (the diagram writes ``head^−½``). None: such a number is an error.
        self.stand_ins: dict[str, float] | None = None
        #: Axes whose declaration failed: uses of them raise no further diagnostics.
        self.broken_axes: set[str] = set()
        #: The circuit calls being inlined, outermost first: (circuit, call span).
        self.call_stack: list[tuple[str, Span]] = []
        self.circuits = circuits
        self.global_axes = global_axes
        self.sources = sources
        self.diagnostics: list[Diagnostic] = []
        self.g = ir.new_graph(model.name if model else "")
        self.axes: dict[str, ir.Axis] = dict(axes)
        self.g.graph["axes"] = self.axes
        self.param_shapes: dict[str, list[int]] = {}
        self.used_paths: set[str] = set()
        self.path_counters: dict[str, int] = {}
        self.label_spans: dict[str, Span] = {}
        self.tie_roots: dict[str, str] = {}  # a tied parameter's name -> the parameter it shares
        self.expr_depth = 0
        #: The check's work budget (:mod:`ncdl.dsl.budget`); the checker hands one budget to every elaborator.
        self.budget = Budget()
        #: Calls that made no box, replayed instead of run again (:mod:`ncdl.dsl.replay`).
        self.memo = CallMemo()
        #: Units charged per run of an ``if``, by its condition (the syntax tree lives as long as the check).
        self.condition_work: dict[int, int] = {}

    def state_sizes(self) -> tuple[int, ...]:
        """The sizes of what elaborating can add to across the model (boxes, diagnostics,
        axes, weights, ties, symbols): unchanged sizes mean a run made nothing (:mod:`ncdl.dsl.replay`)."""
        return (
            self.g.number_of_nodes(),
            len(self.diagnostics),
            len(self.axes),
            len(self.param_shapes),
            len(self.tie_roots),
            len(self.opaque),
            len(self.broken_axes),
            len(self.stand_ins or ()),
        )

    # ---- diagnostics ------------------------------------------------------
    def error(self, code: str, message: str, span: Span | None, hint: str | None = None) -> _Poison:
        """Record a diagnostic and return POISON (for ``return self.error(...)``)."""
        for d in self.diagnostics:
            if d.span == span and d.message == message:
                return POISON
        line = None
        if span is not None:
            lines = self.sources.get(span.file)
            if lines is not None and 0 < span.line <= len(lines):
                line = lines[span.line - 1]
        notes = list(
            dict.fromkeys(
                f"in '{name}', called at {at.file}:{at.line}:{at.col}"
                for name, at in reversed(self.call_stack)
                if span is None or at != span
            )
        )
        if len(notes) > 3:  # innermost two and the outermost call
            notes = [*notes[:2], f"... {len(notes) - 3} more calls", notes[-1]]
        self.diagnostics.append(Diagnostic(code, message, span, hint, line, notes))
        if len(self.diagnostics) >= 100:
            raise Abort
        return POISON

    def work(self, units: int, span: Span | None) -> None:
        """Spend ``units`` of the work budget; past it, E200 at ``span`` and stop."""
        if self.budget.spend(units):
            self.error(
                "E200",
                f"checking stops here: the program needs more than {self.budget.limit:,} steps to unroll (the work budget)",
                span,
                WORK_HINT,
            )
            raise Abort

    def size_too_large(self, span: Span | None) -> _Poison:
        """E201: a size expression outgrew :data:`~ncdl.ir.sizes.MAX_SIZE_NODES`."""
        return self.error("E201", f"a size here grows past {MAX_SIZE_NODES:,} terms", span, SIZE_HINT)

    # ---- nodes -----------------------------------------------------------
    def add(
        self,
        op: str,
        inputs: list[Value],
        axes: list[str] | tuple[str, ...],
        env: Env,
        span: Span,
        *,
        name: str = "",
        dtype: str = "float32",
        attrs: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None,
        buffers: list[dict[str, Any]] | None = None,
        scope: str = "",
        of: str | None = None,
    ) -> Value:
        """Append an IR node and return the Value it produces."""
        if self.g.number_of_nodes() >= max_boxes():
            self.error(
                "E152",
                f"the model grows past {max_boxes():,} boxes",
                span,
                "use fewer or smaller repeats (or raise the limit: `--max-boxes`, `ncdl.loads(..., max_boxes=)`)",
            )
            raise Abort
        self.work(BOX_WORK + sum(self.axes[a].size.nodes for a in axes if a in self.axes), span)
        node = ir.add_node(
            self.g,
            op,
            [v.node for v in inputs],
            list(axes),
            name=name or op,
            dtype=dtype,
            attrs=attrs,
            params=params,
            buffers=buffers,
            scope=scope or env.scope,
            frames=env.frames,
            span=span.to_dict(),
        )
        return Value(node, tuple(axes), dtype, of)

    def error_box(self, op: str, inputs: list[tuple[Value, str]], env: Env, span: Span) -> None:
        """Draw the box that failed, for diagrams of broken programs: its input
        wires carry ``error`` labels (the types that clash). The graph is then
        marked as erroneous and is never given to a compiler backend."""
        node = f"n{self.g.number_of_nodes()}"
        while node in self.g:
            node += "_"
        self.g.add_node(
            node, op=op, name=f"{op} (error)", axes=[], dtype="float32", attrs={}, params=[], buffers=[],
            scope=env.scope, frames=env.frames, span=span.to_dict(),
        )  # fmt: skip
        for port, (value, label) in enumerate(inputs):
            if value.node in self.g:
                self.g.add_edge(value.node, node, port=port, axes=list(value.axes), error=label)

    # ---- opaque sizes (generic checking) ------------------------------------
    def fresh_opaque(self, name: str) -> Size:
        """A new opaque size, printed as ``name`` (primed when that is taken)."""
        taken = {sym for axis in self.axes.values() for sym in axis.size.symbols()} | self.opaque
        while name in taken:
            name += "'"
        self.opaque.add(name)
        return Size.symbol(name)

    def deferred(self, *sizes: Size) -> bool:
        """True when a size question depends on an opaque parameter: while a
        circuit is checked at its definition, each call site answers it."""
        return self.generic and any(s.symbols() & self.opaque for s in sizes)

    def reads_opaque(self, node: Any, env: Env) -> bool:
        """True while a circuit is checked at its definition and ``node`` reads the size of an
        axis parameter or an integer parameter: the number folded from it (1 stands in for
        each) says nothing about the call sites, which check it again with their sizes."""
        if not self.generic:
            return False
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Name) and n.name not in env.values:
                if isinstance(env.ints.get(n.name), Size):
                    return True
                axis = self.lookup_axis(n.name, env)
                if axis is not None and self.deferred(self.axes[axis].size):
                    return True
            elif dataclasses.is_dataclass(n) and not isinstance(n, type):
                for f in dataclasses.fields(n):
                    value = getattr(n, f.name)
                    stack.extend(value if isinstance(value, (list, tuple)) else [value])
        return False

    def stand_in(self, axis: str) -> float:
        """The stand-in number of an axis without a fixed size (see ``stand_ins``): a prime
        over 1000, a different one per axis, so that no ordinary constant is mistaken for it."""
        assert self.stand_ins is not None
        if axis not in self.stand_ins:
            n = int(max(self.stand_ins.values(), default=1000.0)) + 1
            while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
                n += 1
            self.stand_ins[axis] = float(n)
            self.g.graph["stand_ins"] = self.stand_ins
        return self.stand_ins[axis]

    # ---- axes and sizes --------------------------------------------------
    def lookup_axis(self, name: str, env: Env) -> str | None:
        """The concrete axis an author's name refers to, or None."""
        if name in env.axis_env:
            return env.axis_env[name]
        if name in self.global_axes:
            return name
        return None

    def axis_names_in_scope(self, env: Env) -> list[str]:
        return list(env.axis_env) + sorted(self.global_axes)

    def unknown_axis(self, name: str, span: Span, env: Env) -> _Poison:
        if name in env.ints:
            return self.error("E102", f"'{name}' is an integer parameter, not an axis", span)
        if name in env.values:
            return self.error("E102", f"'{name}' is a tensor value, not an axis", span)
        hint = did_you_mean(name, self.axis_names_in_scope(env)) or f"declare it: `axis {name} = <size>`"
        return self.error("E101", f"unknown axis '{name}'", span, hint)

    def size_of(self, e: ast.SExpr, env: Env) -> Size | None:
        """Evaluate a size expression; None after a diagnostic."""
        try:
            size = self._size_of(e, env)
        except SizeTooLarge:
            self.size_too_large(e.span)
            return None
        if size is not None:
            self.work(size.nodes, e.span)
        return size

    def _size_of(self, e: ast.SExpr, env: Env) -> Size | None:
        if isinstance(e, ast.SInt):
            if e.value > MAX_AXIS_SIZE:
                self.error("E107", f"size {e.value} is larger than the limit {MAX_AXIS_SIZE}", e.span)
                return None
            return Size.const(e.value)
        if isinstance(e, ast.SName):
            if e.name in env.ints:
                return Size.of(env.ints[e.name])
            concrete = self.lookup_axis(e.name, env)
            if concrete is None:
                self.unknown_axis(e.name, e.span, env)
                return None
            return self.axes[concrete].size
        left, right = self._size_of(e.left, env), self._size_of(e.right, env)
        if left is None or right is None:
            return None
        if e.op == "+":
            result = left + right
        elif e.op == "-":
            result = left - right
        elif e.op == "*":
            result = left * right
        elif e.op == "/":
            quotient = left.exact_div(right)
            if quotient is None and self.deferred(left, right) and right.as_int() != 0:
                quotient = self.fresh_opaque(self.format_sexpr(e, env))
            if quotient is None:
                if right.as_int() == 0:
                    self.error("E106", "division by zero in a size", e.span)
                else:
                    self.error(
                        "E106",
                        f"size {left} is not divisible by {right}",
                        e.span,
                        "sizes must divide exactly; use `//` to round down",
                    )
                return None
            result = quotient
        else:  # "//"
            d = right.as_int()
            if d is None and self.deferred(right):
                return self.fresh_opaque(self.format_sexpr(e, env))
            if d is None or d <= 0:
                self.error("E106", f"`//` needs a positive constant divisor, got {right}", e.span)
                return None
            result = left // d
        c = result.as_int()
        if c is not None and abs(c) > MAX_AXIS_SIZE:
            self.error("E107", f"size {c} is larger than the limit {MAX_AXIS_SIZE}", e.span)
            return None
        return result

    def int_of(self, e: ast.SExpr, env: Env, what: str) -> int | Size | None:
        """Evaluate a compile-time integer; None after a diagnostic. While a
        circuit is checked generically, an integer made of its opaque
        parameters stays a (symbolic) Size."""
        size = self.size_of(e, env)
        if size is None:
            return None
        if self.deferred(size):
            return size
        value = size.as_int()
        if value is None:
            self.error("E108", f"{what} must be a known integer, but it is {size}", _span(e))
        return value

    def scalar_of(self, e: ast.SExpr | ast.Number | ast.Bool, env: Env, kind: str, what: str) -> float | bool | None:
        """The value of a ``float`` or ``bool`` parameter: a literal, or a name of the same
        kind in ``env`` (an integer or a size expression for a float); None after E142."""
        if kind == "bool":
            if isinstance(e, ast.Bool):
                return e.value
            if isinstance(e, ast.SName) and e.name in env.bools:
                return env.bools[e.name]
            self.error("E142", f"{what} takes `true` or `false`", e.span)
            return None
        if isinstance(e, ast.Number):
            return float(e.value)
        if isinstance(e, ast.SName) and e.name in env.floats:
            return env.floats[e.name]
        if isinstance(e, ast.Bool) or (isinstance(e, ast.SName) and e.name in env.bools):
            self.error("E142", f"{what} takes a number, not a bool", e.span)
            return None
        value = self.int_of(e, env, what)
        return None if value is None else float(value)

    def format_sexpr(self, e: ast.SExpr, env: Env) -> str:
        """Canonical text of a size expression over concrete names.

        A name bound to a derived axis is substituted as a subexpression, with
        parentheses where precedence needs them: ``2*a`` with ``a`` bound to
        ``c+1`` is ``2*(c+1)``, never the user's own ``2*c+1`` (a different
        size). Only ``*`` in ``*`` and ``+`` in ``+`` drop them (same size).
        """
        if isinstance(e, ast.SInt):
            return str(e.value)
        if isinstance(e, ast.SName):
            if e.name in env.ints:
                return str(env.ints[e.name])
            return self.lookup_axis(e.name, env) or e.name

        def wrap(x: ast.SExpr, right: bool) -> str:
            text = self.format_sexpr(x, env)
            ops = {x.op} if isinstance(x, ast.SBin) else _top_level_ops(text)
            if not ops:
                return text
            inner = min(_PREC[op] for op in ops)
            if isinstance(x, ast.SName) and ops == {e.op} and e.op in ("*", "+"):
                return text
            if inner < _PREC[e.op] or (right and inner == _PREC[e.op]):
                return f"({text})"
            return text

        return f"{wrap(e.left, False)}{e.op}{wrap(e.right, True)}"

    def axis_of(self, e: ast.SExpr, env: Env) -> str | None:
        """The concrete axis for an axis reference (a name or a size expression)."""
        if isinstance(e, ast.SName) and e.name not in env.ints:
            concrete = self.lookup_axis(e.name, env)
            if concrete is None:
                self.unknown_axis(e.name, e.span, env)
            return concrete
        size = self.size_of(e, env)
        if size is None or not self.positive(size, _span(e), f"axis '{self.format_sexpr(e, env)}'"):
            return None
        name = self.format_sexpr(e, env)
        if name not in self.axes:
            self.axes[name] = ir.Axis(name, size)
        elif self.axes[name].size != size and not self.deferred(size, self.axes[name].size):
            self.error(
                "E110",
                f"axis '{name}' has size {self.axes[name].size} here, but this expression gives {size}",
                _span(e),
            )
            return None
        return name

    def define_axis(self, name: str, size: Size, env: Env, span: Span, what: str, *, local: bool = False) -> str | None:
        """Bind ``name`` (a new or existing axis) to ``size``; return the concrete name.

        With ``local`` the name shadows a global axis of the same name.
        """
        if not self.positive(size, span, f"axis '{name}'"):
            return None
        if name in env.pending:
            # The caller chose this axis's name, perhaps passing on a name its own
            # caller chose: every level up the chain learns the axis, named by the outermost.
            chain = [(env, name)]
            while chain[-1][1] in chain[-1][0].pending:
                level, formal = chain[-1]
                chain.append(level.pending.pop(formal))
            candidate = chain[-1][1]
            while candidate in self.axes and self.axes[candidate].size != size:
                candidate += "'"
            if candidate not in self.axes:
                self.axes[candidate] = ir.Axis(candidate, size)
            for level, formal in chain:
                level.axis_env[formal] = candidate
                if level is not env:
                    level.local_axes.add(formal)
            return candidate
        concrete = env.axis_env.get(name) if local else self.lookup_axis(name, env)
        if concrete is not None:
            if not self.same_size(concrete, size, span, f"{what} gives axis '{name}' size"):
                return None
            return concrete
        candidate = name
        while candidate in self.axes and self.axes[candidate].size != size:
            candidate += "'"
        if candidate not in self.axes:
            self.axes[candidate] = ir.Axis(candidate, size)
        env.axis_env[name] = candidate
        env.local_axes.add(name)
        return candidate

    def positive(self, size: Size, span: Span, what: str) -> bool:
        """False (after E107) when ``size`` is a constant below 1."""
        value = size.as_int()
        if value is not None and value < 1:
            self.error("E107", f"{what} must have a positive size, got {value}", span)
            return False
        return True

    def same_size(self, concrete: str, size: Size, span: Span, context: str) -> bool:
        """Check an existing axis has ``size``; diagnose when not (provably)."""
        have = self.axes[concrete].size
        if have == size or self.deferred(have, size):
            return True
        if have.is_const() and size.is_const():
            self.error("E110", f"{context} {size}, but '{concrete}' has size {have}", span)
        else:
            self.error(
                "E111",
                f"cannot prove that {size} equals {have}, the size of '{concrete}'",
                span,
                "rename to a new axis, or make the sizes provably equal",
            )
        return False

    def fixed(self, concrete: str, span: Span, what: str, *, allow_bound: bool = False) -> int | None:
        """The integer size of an axis a learned weight needs; diagnose free ones."""
        axis = self.axes[concrete]
        if axis.fixed is not None:
            return axis.fixed
        if self.deferred(axis.size) or concrete in self.broken_axes:
            return 0  # a placeholder: no weights are made (generic checking, or already an error)
        if allow_bound and axis.bound is not None and axis.size == Size.symbol(_root(axis)):
            return axis.bound
        hint = (
            f"declare a bound (`axis {concrete} <= N`)" if allow_bound else "give it a size in its `axis` declaration"
        )
        state = "is free" if str(axis.size) == concrete else f"has size {axis.size}, known only at run time"
        self.error(
            "E112", f"{what} needs a fixed size for axis '{concrete}' to make its weight, but it {state}", span, hint
        )
        return None

    # ---- instance paths ------------------------------------------------------
    def instance_path(self, env: Env, call: ast.Call, default: str) -> str:
        """The unique instance path of a learned box or circuit call."""
        if env.solo_path is not None and call.label is None:
            path, env.solo_path = env.solo_path, None
            self.used_paths.add(path)
            return path
        base = call.label or default
        path = env.child_path(base)
        if call.label is not None and path in self.used_paths:
            first = self.label_spans.get(path)
            where = f"the first is at {first.file}:{first.line}:{first.col}; " if first else ""
            self.error(
                "E163",
                f"the name '{call.label}' is already taken by another instance in this scope",
                _label_span(call),
                f"{where}weights are loaded by name, so each instance needs its own: choose another label",
            )
        elif path in self.used_paths:
            k = self.path_counters.get(path, 1)
            while env.child_path(f"{base}_{k}") in self.used_paths:
                k += 1
            self.path_counters[path] = k + 1
            path = env.child_path(f"{base}_{k}")
        self.used_paths.add(path)
        self.label_spans.setdefault(path, call.span)
        env.instances[call.label or default] = path
        env.instances[path.rsplit(".", 1)[-1]] = path
        return path

    def make_param(
        self,
        env: Env,
        path: str,
        key: str,
        axes: list[str],
        shape: list[int],
        init: dict[str, Any],
        span: Span | None = None,
    ) -> dict:
        """A parameter dict, tied when a ``tie`` is in force for ``path``."""
        name = f"{path}.{key}" if key else path
        tied_to = None
        for own, target in reversed(env.ties):
            if name == own or name.startswith(own + "."):
                tied_to = target + name[len(own) :]
                break
        if tied_to is not None:
            tied_to = self.tie_roots.get(tied_to, tied_to)  # a tie to a tied instance shares its owner's tensor
            shape_there = self.param_shapes.get(tied_to)
            if shape_there is None:
                self.error("E160", f"cannot tie '{name}': there is no parameter '{tied_to}'", span)
                tied_to = None
            elif shape_there != shape:
                self.error("E161", f"cannot tie '{name}' {shape} to '{tied_to}' {shape_there}: shapes differ", span)
                tied_to = None
        if tied_to is None:
            self.param_shapes[name] = shape
        else:
            self.tie_roots[name] = tied_to
        return {"key": key, "name": name, "axes": axes, "shape": shape, "init": init, "tied_to": tied_to}

    # ---- models --------------------------------------------------------------
    def elaborate_model(self) -> nx.MultiDiGraph:
        """Elaborate the model; return its IR (possibly partial after errors)."""
        m = self.model
        env = Env(m.file, m, "", [])
        try:
            self._bind_model_params(env)
            values = []
            for arg in m.args:
                if arg.optional:
                    self.error(
                        "E194",
                        f"model input '{arg.name}' cannot be optional: a compiled model has fixed inputs",
                        arg.span,
                        "make the argument optional in a circuit, and call it from one model with it, one without",
                    )
                value = self._model_input(arg, env)
                env.values[arg.name] = value
                values.append(value)
            self.run_block(m.body, env)
            result = env.returned
            if result is None:
                self.error("E144", f"model '{m.name}' ends without `return`", m.name_span)
            else:
                self._model_outputs(result, env)
            self._check_bindings()
        except Abort:
            pass
        except RecursionError:
            self.error("E153", "the program nests too deeply to check", m.name_span, "name intermediate values")
        except SizeTooLarge:
            self.size_too_large(m.name_span)
        if not self.diagnostics:
            self._check_dropped_ties(_reachable(self.g))
            self._check_param_names()
        if not self.diagnostics:
            _prune(self.g)
            _prune_axes(self.g)
        return self.g

    def _check_param_names(self) -> None:
        """A parameter may not have the name of a model input or output: ONNX names them all in one namespace."""
        g = self.g
        names = {g.nodes[n]["attrs"]["name"]: "input" for n in g.graph["inputs"]}
        names.update({g.nodes[n]["attrs"]["name"]: "output" for n in g.graph["outputs"]})
        for _, data in g.nodes(data=True):
            for p in data["params"] + data["buffers"]:
                if p["name"] in names:
                    self.error(
                        "E215",
                        f"parameter '{p['name']}' has the name of the model's {names[p['name']]}",
                        Span(**data["span"]) if data["span"] else None,
                        f"label it `as {p['name']}_param` or another free name",
                    )
                    return

    def _check_dropped_ties(self, keep: set[str]) -> None:
        """A kept box may not tie to the weights of a box that pruning drops (its result is unused)."""
        dropped = {
            p["name"]
            for n, data in self.g.nodes(data=True)
            if n not in keep
            for p in data["params"]
            if not p["tied_to"]
        }
        for n in sorted(keep):
            data = self.g.nodes[n]
            for p in data["params"]:
                if p["tied_to"] in dropped:
                    owner = p["tied_to"].rsplit(".", 1)[0]
                    self.error(
                        "E214",
                        f"cannot tie '{p['name']}' to '{p['tied_to']}': the result of '{owner}' is never used, "
                        "so the model keeps no weights there",
                        Span(**data["span"]) if data["span"] else None,
                        f"use the result of '{owner}', or drop it and give this box its own weights",
                    )
                    return

    def _bind_model_params(self, env: Env) -> None:
        for p in self.model.params:
            if p.kind in ("float", "bool"):
                if p.default is None:
                    self.error("E141", f"model parameter '{p.name}' needs a default value", p.span)
                    continue
                value = self.scalar_of(p.default, env, p.kind, f"parameter '{p.name}'")
                if value is not None:
                    (env.floats if p.kind == "float" else env.bools)[p.name] = value
                continue
            if p.kind == "int":
                if p.default is None:
                    self.error("E141", f"model parameter '{p.name}' needs a default value", p.span)
                    env.ints[p.name] = 0
                else:
                    env.ints[p.name] = self.int_of(p.default, env, f"parameter '{p.name}'") or 0
            elif p.default is not None:
                size = self.size_of(p.default, env)
                if size is not None and self.define_axis(p.name, size, env, _span(p.default), "the default") is None:
                    raise Abort  # the axis is undefined: each of its uses in the body would be E101 again
            elif p.name not in self.global_axes:
                self.error("E140", f"model axis parameter '{p.name}' is not a declared axis", p.span)

    def _model_input(self, arg: ast.ArgDecl, env: Env) -> Value | _Poison:
        axes = self.type_axes(arg.type, env)
        if axes is None:
            return POISON
        of = self.lookup_axis(arg.type.of, env) if arg.type.of else None
        if arg.type.of and of is None:
            self.unknown_axis(arg.type.of, arg.type.of_span or arg.span, env)
        dtype = DTYPES[arg.type.dtype]
        if dtype == "int64" and of is None and not arg.type.of:
            self.error("E113", f"integer input '{arg.name}' needs `of AXIS`: the axis its values index", arg.type.span)
        attrs = {"name": arg.name, "of": of}
        value = self.add("input", [], axes, env, arg.span, name=arg.name, dtype=dtype, attrs=attrs, of=of)
        self.g.graph["inputs"].append(value.node)
        for dim, concrete in enumerate(axes):
            size = self.axes[concrete].size
            if len(size.terms) == 1 and not size.is_const():
                ((mono, coef),) = size.terms.items()
                if coef == 1 and len(mono) == 1 and mono[0][1] == 1 and isinstance(mono[0][0], str):
                    self.g.graph["bindings"].setdefault(mono[0][0], [value.node, dim])
        return value

    def type_axes(self, t: ast.TypeExpr, env: Env) -> list[str] | None:
        """Concrete axes of a declared type; None after a diagnostic."""
        axes: list[str] = []
        ok = True
        for e in t.axes:
            concrete = self.axis_of(e, env)
            if concrete is None:
                ok = False
            elif concrete in axes:
                self.error("E114", f"axis '{concrete}' appears twice in a type", _span(e), "each wire appears once")
                ok = False
            else:
                axes.append(concrete)
        return axes if ok else None

    def _model_outputs(self, returned: Result, env: Env) -> None:
        m = self.model
        if returned is POISON:
            return
        values = list(returned) if isinstance(returned, tuple) else [returned]
        if len(values) != len(m.results):
            self.error(
                "E192",
                f"model '{m.name}' returns {_count(len(values))} but declares {len(m.results)}",
                env.returned_at,
                RESULTS_HINT,
            )
            return
        for i, (value, decl) in enumerate(zip(values, m.results, strict=True)):
            if isinstance(value, Value):
                name = decl.name or ("output" if len(values) == 1 else f"output_{i}")
                self._model_output(value, decl.type, name, env)

    def _model_output(self, result: Value, declared_type: ast.TypeExpr, name: str, env: Env) -> None:
        m = self.model
        declared = self.type_axes(declared_type, env)
        if declared is None:
            return
        if set(declared) != set(result.axes):
            missing = [a for a in declared if a not in result.axes]
            extra = [a for a in result.axes if a not in declared]
            detail = "; ".join(
                part
                for part in (
                    f"missing {_names(missing)}" if missing else "",
                    f"unexpected {_names(extra)}" if extra else "",
                )
                if part
            )
            self.error(
                "E145",
                f"model '{m.name}' returns axes {fmt_axes(result.axes)} but declares {fmt_axes(declared)} ({detail})",
                declared_type.span,
            )
            return
        if DTYPES[declared_type.dtype] != result.dtype:
            self.error(
                "E146",
                f"model '{m.name}' returns {_KIND[result.dtype]} tensor but declares {_KIND[DTYPES[declared_type.dtype]]} one",
                declared_type.span,
            )
            return
        span = declared_type.span
        if list(result.axes) != declared:
            perm = [list(result.axes).index(a) for a in declared]
            result = self.add(
                "transpose",
                [result],
                declared,
                env,
                span,
                name="out",
                attrs={"perm": perm},
                dtype=result.dtype,
                of=result.of,
            )
        # an integer result stays an integer output (its graph output is typed int64)
        out = self.add(
            "output", [result], declared, env, span, name=name, attrs={"name": name}, dtype=result.dtype, of=result.of
        )
        self.g.graph["outputs"].append(out.node)

    def _check_bindings(self) -> None:
        bound = set(self.g.graph["bindings"])
        for _node, data in self.g.nodes(data=True):
            for a in data["axes"]:
                missing = self.axes[a].size.symbols() - bound - self.broken_axes
                if missing:
                    root = sorted(missing)[0]
                    span = _span_from(data["span"])
                    self.error(
                        "E115",
                        f"free axis '{root}' is not carried by any input of model '{self.model.name}'",
                        span,
                        f"give '{root}' a size, or add an input that has it",
                    )
                    return

    # ---- statements ------------------------------------------------------------
    def run_block(self, body: list[ast.Stmt], env: Env) -> None:
        """Execute statements until the end or a ``return``."""
        for stmt in body:
            if env.returned is not None:
                return
            self.run_stmt(stmt, env)

    def run_stmt(self, stmt: ast.Stmt, env: Env) -> None:
        """Execute one statement (a size that outgrows its limit is E201 here)."""
        units = 1
        if isinstance(stmt, ast.If):  # its condition is evaluated every time: in proportion to its size
            cost = self.condition_work.get(id(stmt.cond))
            if cost is None:
                cost = self.condition_work[id(stmt.cond)] = CONDITION_WORK * tree_size(stmt.cond)
            units += cost
        self.work(units, stmt.span)
        try:
            self._run_stmt(stmt, env)
        except SizeTooLarge:
            self.size_too_large(stmt.span)

    def _run_stmt(self, stmt: ast.Stmt, env: Env) -> None:
        if isinstance(stmt, ast.Assign):
            self.run_assign(stmt, env)
        elif isinstance(stmt, ast.Return):
            values = [self.eval(v, env, several=len(stmt.values) == 1) for v in stmt.values]
            for i, (value, expr) in enumerate(zip(values, stmt.values, strict=True)):
                if isinstance(value, float):
                    values[i] = self.error("E117", "`return` needs a tensor, not a number", _span(expr))
            env.returned = values[0] if len(values) == 1 else tuple(values)
            env.returned_at = stmt.span
        elif isinstance(stmt, ast.Repeat):
            self.run_repeat(stmt, env)
        else:
            cond = self.eval_cond(stmt.cond, env)
            if cond == "both":
                self._run_both(stmt, env)
                return
            if cond is None:
                return
            self.run_block(stmt.then if cond else stmt.otherwise, env)

    def run_assign(self, stmt: ast.Assign, env: Env) -> None:
        """``name = value``, or ``a, b = F(x)`` unpacking a call's several results."""
        for name in stmt.names:
            taken = "an integer" if name in env.ints else "a float" if name in env.floats else None
            taken = taken or ("a bool" if name in env.bools else None)
            if taken:
                self.error("E116", f"'{name}' is {taken} parameter and cannot be assigned", stmt.span)
                return
        several = len(stmt.names) > 1
        value = self.eval(stmt.value, env, assign=None if several else stmt.name, several=several)
        if isinstance(value, float):
            self.error("E117", f"'{stmt.name}' would be a plain number; values must be tensors", _span(stmt.value))
            value = POISON
        if not several:
            env.values[stmt.name] = value
            return
        count = len(value) if isinstance(value, tuple) else 1
        if isinstance(value, tuple) and count == len(stmt.names):
            env.values.update(zip(stmt.names, value, strict=True))
            return
        if value is not POISON:
            what = f"{count} values" if count > 1 else "one value"
            self.error(
                "E191",
                f"{len(stmt.names)} names are assigned, but the right side gives {what}",
                stmt.span,
                "assign as many names as the call returns",
            )
        env.values.update(dict.fromkeys(stmt.names, POISON))

    def _run_both(self, stmt: ast.If, env: Env) -> None:
        """Generic checking of an ``if`` its parameters decide: check each
        branch from the same state, then carry on with the ``then`` branch's
        values (the ``else`` branch's where the ``then`` branch returned)."""
        values, paths, returned = dict(env.values), set(self.used_paths), env.returned
        self.run_block(stmt.then, env)
        then_values, then_returned, then_paths = env.values, env.returned, self.used_paths
        env.values, env.returned, self.used_paths = dict(values), returned, set(paths)
        self.run_block(stmt.otherwise, env)
        self.used_paths |= then_paths
        if then_returned is None:
            env.values, env.returned = then_values, None

    def run_repeat(self, stmt: ast.Repeat, env: Env) -> None:
        count = self.int_of(stmt.count, env, "the repeat count")
        if count is None:
            return
        if isinstance(count, Size):  # generic: check the body once, with an opaque index
            if stmt.index is not None:
                env.ints[stmt.index] = self.fresh_opaque(stmt.index)
            self.run_block(stmt.body, env)
            if stmt.index is not None:
                env.ints.pop(stmt.index, None)
            return
        if count < 1:
            self.error("E150", f"repeat count must be at least 1, got {count}", _span(stmt.count))
            return
        if count > MAX_REPEAT:
            self.error("E151", f"repeat count {count:,} is over the limit of {MAX_REPEAT:,}", _span(stmt.count))
            return
        label = stmt.label or "blocks"
        path = env.child_path(label)
        k = 1
        while path in self.used_paths:
            path = env.child_path(f"{label}_{k}")
            k += 1
        self.used_paths.add(path)
        self.g.graph["repeats"][path] = count
        solo = _solo_call(stmt.body, self.circuits)
        saved_scope, saved_frames = env.scope, env.frames
        if stmt.index is not None and (stmt.index in env.values or stmt.index in env.ints):
            self.error("E116", f"the repeat index '{stmt.index}' hides another name", stmt.span)
            return
        same_body = not reads_index(stmt, self.circuits)
        i = 0
        while i < count:
            # when the body reads no index, an iteration that changed nothing is a fixpoint: the rest are charged
            start = Iteration.start(self, env) if same_body else None
            self.work(1, stmt.span)
            if stmt.index is not None:
                env.ints[stmt.index] = i
            env.scope = f"{path}.{i}"
            env.frames = saved_frames + [[path, label, "repeat"], [env.scope, label, "iteration"]]
            env.solo_path = env.scope if solo else None
            self.run_block(stmt.body, env)
            if env.returned is not None:
                break
            i += 1
            if start is not None and start.fixpoint(self, env):
                i += start.charge_more(self, count - i)
        env.scope, env.frames, env.solo_path = saved_scope, saved_frames, None
        if stmt.index is not None:
            env.ints.pop(stmt.index, None)

    def eval_cond(self, c: ast.Cond, env: Env) -> bool | str | None:
        """True or False; None after a diagnostic; ``"both"`` when it depends on
        an opaque parameter (generic checking)."""
        if isinstance(c, ast.Test):
            return self.test_name(c, env)
        if isinstance(c, ast.Cmp):
            left, right = self.size_of(c.left, env), self.size_of(c.right, env)
            if left is None or right is None:
                return None
            if self.generic and left != right and self.deferred(left, right):
                return "both"
            if c.op in ("==", "!="):
                if left == right:
                    return c.op == "=="
                if not (left.is_const() and right.is_const()):
                    self.error("E118", f"cannot decide {left} {c.op} {right} before the model runs", c.span)
                    return None
                return c.op == "!="
            if not (left.is_const() and right.is_const()):
                self.error("E118", f"cannot decide {left} {c.op} {right} before the model runs", c.span)
                return None
            return _ORDER[c.op](left.constant(), right.constant())
        left = self.eval_cond(c.left, env)
        if c.op == "not":
            return left if left in (None, "both") else not left
        right = self.eval_cond(c.right, env) if c.right is not None else None
        if left is None or right is None:
            return None
        if "both" in (left, right):
            decided = right if left == "both" else left
            if decided == (c.op == "or"):  # `x or True`, `x and False`
                return decided
            return "both"
        return (left and right) if c.op == "and" else (left or right)

    def test_name(self, c: ast.Test, env: Env) -> bool | str | None:
        """A bare name as a condition: a bool parameter's value, or whether an optional argument was given
        (``"both"`` for the checked circuit's own ones while checking generically)."""
        own = env.circuit is self.model and env.circuit is not None
        if self.generic and own and any(p.name == c.name and p.kind == "bool" for p in env.circuit.params):
            return "both"
        if self.generic and own and any(a.name == c.name and a.optional for a in env.circuit.args):
            return "both"
        if c.name in env.bools:
            return env.bools[c.name]
        if c.name in env.absent:
            return False
        arg = next((a for a in env.circuit.args if a.name == c.name), None) if env.circuit else None
        if arg is not None and arg.optional:
            return True
        what = _what(c.name, env, self)
        self.error(
            "E197",
            f"`if {c.name}` needs a bool parameter or an optional argument, but '{c.name}' is {what}",
            c.span,
            "compare integers (`if n > 0`), or declare `name: bool` or an optional argument `name: [...]?`",
        )
        return None

    # ---- expressions -----------------------------------------------------------
    def eval(self, e: ast.Expr, env: Env, assign: str | None = None, *, several: bool = False) -> Result:
        """Evaluate an expression to a tensor Value, a number, or POISON; with ``several``
        a call may also give a tuple of results (``a, b = F(x)``, ``return F(x)``)."""
        self.expr_depth += 1
        try:
            if self.expr_depth > MAX_EXPR_DEPTH:
                self.error(
                    "E153",
                    f"expression nests deeper than {MAX_EXPR_DEPTH} levels",
                    _span(e),
                    "name intermediate values with `=`",
                )
                raise Abort
            result = self._eval(e, env, assign)
        finally:
            self.expr_depth -= 1
        if isinstance(result, tuple) and not several:
            return self.several_here(e, len(result))
        return result

    def several_here(self, e: ast.Expr, count: int) -> _Poison:
        """E190: a call with several results used where one value is needed."""
        func = e.func if isinstance(e, ast.Call) else "this"
        decl = self.circuits.get(func)
        names = [r.name for r in decl.results] if decl is not None else []
        if not all(names):
            names = [f"r{i}" for i in range(count)]
        return self.error(
            "E190",
            f"'{func}' returns {count} values where one is needed",
            _span(e),
            f"unpack them first: `{', '.join(names)} = {func}(...)`",
        )

    def _eval(self, e: ast.Expr, env: Env, assign: str | None) -> Result:
        if isinstance(e, ast.Number):
            if not math.isfinite(e.value):
                return self.error("E128", "this number is too large for a float", e.span)
            return float(e.value)
        if isinstance(e, ast.Name):
            return self.eval_name(e, env)
        if isinstance(e, ast.BinOp):
            left = self.eval(e.left, env)
            right = self.eval(e.right, env)
            return self.boxes.binary(self, e, left, right, env)
        if isinstance(e, ast.Neg):
            operand = self.eval(e.operand, env)
            if isinstance(operand, float):
                return -operand
            if isinstance(operand, Value):
                return self.boxes.elementwise(self, "neg", operand, env, e.span)
            return POISON
        if isinstance(e, ast.Not):
            operand = self.eval(e.operand, env)
            if isinstance(operand, float):
                return self.error(
                    "E181", "`not` needs a boolean tensor, not a number", e.operand.span, "compare first: not (x > 0)"
                )
            if isinstance(operand, Value):
                return self.boxes.elementwise(self, "not", operand, env, e.span)
            return POISON
        if isinstance(e, ast.Call):
            return self.eval_call(e, env, assign)
        if isinstance(e, (ast.String, ast.Bool, ast.TupleExpr)):
            return self.error("E119", "this is an option value; it can only follow `name=` in a call", e.span)
        raise AssertionError(type(e))

    def eval_name(self, e: ast.Name, env: Env) -> Result:
        if e.name in env.values:
            return env.values[e.name]
        if e.name in env.ints:
            value = env.ints[e.name]
            if isinstance(value, Size):  # an opaque integer parameter: 1 stands in for it
                return float(value.as_int() or 1)
            return float(value)
        if e.name in env.floats:
            return env.floats[e.name]
        if e.name in env.bools:
            return self.error(
                "E196",
                f"'{e.name}' is a bool parameter; it is not a value",
                e.span,
                f"use it as a condition (`if {e.name} {{ ... }}`) or an option (`bias={e.name}`)",
            )
        if e.name in env.absent:
            return self.error(
                "E195",
                f"optional argument '{e.name}' was not given at this call",
                e.span,
                f"use it under `if {e.name} {{ ... }}`",
            )
        concrete = self.lookup_axis(e.name, env)
        if concrete is not None:
            size = self.axes[concrete].fixed
            if size is None and (self.deferred(self.axes[concrete].size) or concrete in self.broken_axes):
                return 1.0
            if size is None and self.stand_ins is not None:
                return self.stand_in(concrete)
            if size is None:
                return self.error(
                    "E109",
                    f"axis '{concrete}' has no fixed size (it is known only at run time); it cannot be used as a number",
                    e.span,
                )
            return float(size)
        if e.name == "inf":
            return math.inf
        if e.name in self.boxes.primitives or e.name in self.circuits:
            return self.error("E102", f"'{e.name}' is a box; call it: `{e.name}(...)`", e.span)
        hint = did_you_mean(e.name, list(env.values) + list(env.ints))
        if hint is None:
            hint = "values are defined with `name = ...` before they are used"
        return self.error("E102", f"unknown value '{e.name}'", e.span, hint)

    def eval_call(self, call: ast.Call, env: Env, assign: str | None) -> Result:
        seen: dict[str, ast.Kwarg] = {}
        for kw in call.kwargs:
            if kw.name in seen:
                first = seen[kw.name].span
                return self.error(
                    "E133",
                    f"option '{kw.name}' is given twice",
                    kw.span,
                    f"the first is at {first.file}:{first.line}:{first.col}; keep one",
                )
            seen[kw.name] = kw

        if call.func in self.circuits:
            return self.boxes.call_circuit(self, call, env, assign)
        if call.func in self.boxes.primitives:
            return self.boxes.call_primitive(self, call, env, assign)
        candidates = list(self.boxes.primitives) + list(self.circuits)
        hint = did_you_mean(call.func, candidates) or "see docs/language.md for the primitive boxes"
        return self.error("E103", f"unknown box '{call.func}'", call.func_span, hint)


def _solo_call(body: list[ast.Stmt], circuits: dict[str, ast.CircuitDecl]) -> bool:
    """True when a repeat body is one circuit call (its instance is the iteration),
    possibly chosen by ``if``: every branch is then one such call."""
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.If):
        return _solo_call(stmt.then, circuits) and (not stmt.otherwise or _solo_call(stmt.otherwise, circuits))
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call)
        and stmt.value.func in circuits
        and stmt.value.label is None
    )


def _span(e: Any) -> Span:
    return e.span


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2}


def _top_level_ops(text: str) -> set[str]:
    """The operators of a size expression's text outside any parentheses."""
    ops: set[str] = set()
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch in "+-*/" and i > 0:  # (i > 0: a leading minus is a sign)
            if text.startswith("//", i):
                ops.add("//")
                i += 1
            else:
                ops.add(ch)
        i += 1
    return ops


def _label_span(call: ast.Call) -> Span:
    """The span of the ``label`` in ``... as label`` (the call ends with it)."""
    s = call.span
    if call.label is None or s.end_col <= len(call.label):
        return s
    return Span(s.file, s.end_line, s.end_col - len(call.label), s.end_line, s.end_col)


def _span_from(d: dict[str, Any]) -> Span | None:
    return Span(d["file"], d["line"], d["col"], d["end_line"], d["end_col"]) if d else None


def _root(axis: ir.Axis) -> str:
    symbols = axis.size.symbols()
    return next(iter(symbols)) if len(symbols) == 1 else axis.name


def _what(name: str, env: Env, el: Elaborator) -> str:
    """What ``name`` is here, for messages: 'a tensor value', 'an integer parameter', ..."""
    if name in env.values:
        return "a tensor value"
    if name in env.ints:
        return "an integer parameter"
    if name in env.floats:
        return "a float parameter"
    if el.lookup_axis(name, env) is not None:
        return "an axis"
    return "not defined here"


def _count(n: int) -> str:
    return "one value" if n == 1 else f"{n} values"


def _names(axes: list[str]) -> str:
    return ", ".join(f"'{a}'" for a in axes)


def _reachable(g: nx.MultiDiGraph) -> set[str]:
    """The inputs, the outputs and every box whose result reaches an output."""
    keep = set(g.graph["outputs"]) | set(g.graph["inputs"])
    for out in g.graph["outputs"]:
        keep |= nx.ancestors(g, out)
    return keep


def _prune(g: nx.MultiDiGraph) -> None:
    """Drop boxes whose results never reach an output (inputs stay)."""
    keep = _reachable(g)
    g.remove_nodes_from([n for n in list(g.nodes) if n not in keep])


def _prune_axes(g: nx.MultiDiGraph) -> None:
    """Keep in the axis table only the axes this model's wires and weights use
    (and the free axes their sizes are made of), in declaration order."""
    used: set[str] = set()
    for _node, data in g.nodes(data=True):
        used.update(data["axes"])
        for p in data["params"] + data["buffers"]:
            used.update(p["axes"])
        if data["attrs"].get("of"):
            used.add(data["attrs"]["of"])
    axes = g.graph["axes"]
    for name in list(used):
        if name in axes:
            used |= axes[name].size.symbols()
    g.graph["axes"] = {name: axis for name, axis in axes.items() if name in used}

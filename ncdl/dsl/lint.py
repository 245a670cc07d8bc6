"""Warnings: what is legal ncdl but almost certainly not what the author meant.

Read from the syntax tree of each circuit and model of the checked file (not
of the files it imports), so each warning is reported once, at its line:

- W001 a value is computed and never used (``g = gelu(h)`` where ``h`` was
  meant: the GELU would vanish from the model);
- W002 the same when the value holds a learned box (its weights would vanish);
- W003 an input of a model or an argument of a circuit is never used;
- W004 a parameter of a circuit or model is never used;
- W005 a value has the name of an axis in scope, so the name used as a
  number now means the value.

"Never used" comes from a backward liveness analysis over the statements:
``repeat`` bodies run at least once (a value may be read by the next
iteration), ``if`` branches are joined, nothing after ``return`` runs. A name
that starts with ``_`` is exempt from W001-W004, as in Python linters.

Example::

    >>> from ncdl.dsl.parse import parse
    >>> m = parse("axis n = 4\\nmodel M(x: [n]) -> [n] {\\n  g = relu(x)\\n  return x\\n}\\n", "m.ncd")
    >>> [d.code for d in lint_module(m, {"n"}, {c.name: c for c in m.circuits}, {})]
    ['W001']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Diagnostic, Span
from ncdl.dsl.primitives import PRIMITIVES


def lint_module(
    module: ast.Module,
    global_axes: set[str],
    circuits: dict[str, ast.CircuitDecl],
    sources: dict[str, list[str]],
) -> list[Diagnostic]:
    """The warnings of every circuit and model declared in ``module``."""
    out: list[Diagnostic] = []
    learned = _learned_circuits(circuits)
    for decl in module.circuits:
        if circuits.get(decl.name) is decl and decl.alias_of is None:  # an alias's body is its base's
            out += _Lint(decl, global_axes, learned, circuits, sources).run()
    return out


def _learned_circuits(circuits: dict[str, ast.CircuitDecl]) -> set[str]:
    """Names of the circuits that contain a learned box, directly or through calls."""
    calls = {name: {c.func for c in _calls_in(decl.body)} for name, decl in circuits.items()}
    learned = {
        name for name, called in calls.items() if any(PRIMITIVES.get(f) and PRIMITIVES[f].learned for f in called)
    }
    changed = True
    while changed:
        changed = False
        for name, called in calls.items():
            if name not in learned and called & learned:
                learned.add(name)
                changed = True
    return learned


class _Lint:
    """The warnings of one circuit or model."""

    def __init__(
        self,
        decl: ast.CircuitDecl,
        global_axes: set[str],
        learned: set[str],
        circuits: dict[str, ast.CircuitDecl],
        sources: dict[str, list[str]],
    ) -> None:
        self.decl = decl
        self.circuits = circuits
        self.learned = learned
        self.sources = sources
        self.axes = global_axes | {p.name for p in decl.params if p.kind != "int"}
        self.out: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        decl = self.decl
        for arg in decl.args:
            self._shadow(arg.name, _name_span(arg.span, arg.name))
        live = self._block(decl.body, set(), report=False)
        live = self._block(decl.body, set(), report=True)
        what = "input" if decl.is_model else "argument"
        owner = f"{'model' if decl.is_model else 'circuit'} '{decl.name}'"
        for arg in decl.args:
            if arg.name not in live and not arg.name.startswith("_"):
                hint = "remove it, or prefix its name with `_` if it is unused on purpose"
                self._warn(
                    "W003", f"{what} '{arg.name}' of {owner} is never used", _name_span(arg.span, arg.name), hint
                )
        used = set(_size_names(decl))
        # a parameter a called circuit does not get in brackets passes to it implicitly, by name
        for call in _calls_in(decl.body):
            callee = self.circuits.get(call.func)
            if callee is not None:
                items = call.brackets or []
                bound = {i.name for i in items if isinstance(i, ast.BKw)}
                bound |= {p.name for p in callee.params[: sum(isinstance(i, ast.BMap) for i in items)]}
                used |= {p.name for p in callee.params if p.name not in bound}
        for p in decl.params:
            if p.name not in used and not p.name.startswith("_"):
                hint = "remove it, or prefix its name with `_` if it is unused on purpose"
                self._warn("W004", f"parameter '{p.name}' of {owner} is never used", _name_span(p.span, p.name), hint)
        self.out.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
        return self.out

    # ---- liveness ------------------------------------------------------------
    def _block(self, body: list[ast.Stmt], live_out: set[str], *, report: bool) -> set[str]:
        """The values live before ``body``, given those live after it."""
        live = set(live_out)
        for stmt in reversed(body):
            if isinstance(stmt, ast.Return):
                live = {name for value in stmt.values for name in _reads(value)}
            elif isinstance(stmt, ast.Assign):
                if report:
                    for name in stmt.names:
                        if name not in live:
                            self._unused(stmt, name, live)
                        self._shadow(name, self._target_span(stmt, name))
                live = (live - set(stmt.names)) | set(_reads(stmt.value))
            elif isinstance(stmt, ast.If):
                live = self._block(stmt.then, live, report=report) | self._block(stmt.otherwise, live, report=report)
                live |= set(_cond_names(stmt.cond))  # `if mask` reads an optional argument
            else:  # Repeat: the body runs at least once and may feed its next iteration
                body_in: set[str] = set()
                while True:
                    again = self._block(stmt.body, live | body_in, report=False)
                    if again == body_in:
                        break
                    body_in = again
                if report:
                    self._block(stmt.body, live | body_in, report=True)
                live = body_in
        return live

    def _target_span(self, stmt: ast.Assign, name: str) -> Span:
        """The span of ``name`` among the assigned names (``a, b = F(x)``)."""
        if name == stmt.names[0]:
            return _name_span(stmt.span, name)
        lines = self.sources.get(stmt.span.file) or []
        line = lines[stmt.span.line - 1] if 0 < stmt.span.line <= len(lines) else ""
        found = re.compile(rf"\b{re.escape(name)}\b").search(line, stmt.span.col - 1)
        if found is None:
            return _name_span(stmt.span, stmt.names[0])
        s = stmt.span
        return Span(s.file, s.line, found.start() + 1, s.line, found.end() + 1)

    def _unused(self, stmt: ast.Assign, name: str, live_after: set[str]) -> None:
        if name.startswith("_"):
            return
        span = self._target_span(stmt, name)
        reads = list(dict.fromkeys(_reads(stmt.value)))
        later = [r for r in reads if r in live_after and r != name]
        hint = None
        if later and len(stmt.names) == 1:
            rhs = _text(self.sources, stmt.value.span)
            hint = f"`{later[0]}` is used later unchanged; did you mean `{later[0]} = {rhs or '...'}`?"
        box = next((c for c in _calls_in_expr(stmt.value) if self._is_learned(c.func)), None)
        if box is not None:
            message = f"'{name}' is never used, so its learned box '{box.func}' is dropped with its weights"
            self._warn("W002", message, span, hint or "use the value, or remove the line")
        else:
            self._warn("W001", f"value '{name}' is computed but never used", span, hint or "use it, or remove the line")

    def _is_learned(self, func: str) -> bool:
        prim = PRIMITIVES.get(func)
        return prim.learned if prim is not None else func in self.learned

    def _shadow(self, name: str, span: Span) -> None:
        if name not in self.axes:  # (an integer parameter cannot be reassigned: E105, E116)
            return
        self._warn(
            "W005",
            f"value '{name}' has the name of an axis; as a number, `{name}` now means the value",
            span,
            "rename the value",
        )

    def _warn(self, code: str, message: str, span: Span, hint: str | None) -> None:
        lines = self.sources.get(span.file)
        line = lines[span.line - 1] if lines and 0 < span.line <= len(lines) else None
        d = Diagnostic(code, message, span, hint, line, severity="warning")
        if d not in self.out:
            self.out.append(d)


# ---- syntax walks ---------------------------------------------------------------
def _text(sources: dict[str, list[str]], span: Span) -> str | None:
    """The source text of a one-line span that is short enough for a hint."""
    lines = sources.get(span.file)
    if not lines or span.line != span.end_line or not 0 < span.line <= len(lines):
        return None
    text = lines[span.line - 1][span.col - 1 : span.end_col - 1]
    return text if len(text) <= 60 else None


def _name_span(span: Span, name: str) -> Span:
    """The span of the name a declaration or assignment starts with."""
    return Span(span.file, span.line, span.col, span.line, span.col + len(name))


def _reads(e: ast.Expr) -> Iterator[str]:
    """The value names an expression reads (``tie=`` names an instance, not a value)."""
    stack: list[ast.Expr] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Name):
            yield x.name
        elif isinstance(x, ast.BinOp):
            stack += [x.left, x.right]
        elif isinstance(x, ast.Neg):
            stack.append(x.operand)
        elif isinstance(x, ast.TupleExpr):
            stack += x.items
        elif isinstance(x, ast.Call):
            stack += x.args
            stack += [k.value for k in x.kwargs if k.name != "tie"]


def _calls_in_expr(e: ast.Expr) -> Iterator[ast.Call]:
    stack: list[ast.Expr] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Call):
            yield x
            stack += x.args + [k.value for k in x.kwargs]
        elif isinstance(x, ast.BinOp):
            stack += [x.left, x.right]
        elif isinstance(x, ast.Neg):
            stack.append(x.operand)
        elif isinstance(x, ast.TupleExpr):
            stack += x.items


def _stmts(body: list[ast.Stmt]) -> Iterator[ast.Stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _stmts(stmt.then)
            yield from _stmts(stmt.otherwise)
        elif isinstance(stmt, ast.Repeat):
            yield from _stmts(stmt.body)


def _calls_in(body: list[ast.Stmt]) -> Iterator[ast.Call]:
    for stmt in _stmts(body):
        for value in _values(stmt):
            yield from _calls_in_expr(value)


def _snames(e: ast.SExpr | None) -> Iterator[str]:
    stack = [e] if e is not None else []
    while stack:
        x = stack.pop()
        if isinstance(x, ast.SName):
            yield x.name
        elif isinstance(x, ast.SBin):
            stack += [x.left, x.right]


def _cond_names(c: ast.Cond | None) -> Iterator[str]:
    if isinstance(c, ast.Test):
        yield c.name
    elif isinstance(c, ast.Cmp):
        yield from _snames(c.left)
        yield from _snames(c.right)
    elif isinstance(c, ast.BoolOp):
        yield from _cond_names(c.left)
        yield from _cond_names(c.right)


def _type_names(t: ast.TypeExpr) -> Iterator[str]:
    for e in t.axes:
        yield from _snames(e)
    if t.of:
        yield t.of


def _size_names(decl: ast.CircuitDecl) -> Iterable[str]:
    """Every name a circuit uses as an axis or integer (signature, defaults, body)."""
    for p in decl.params:
        yield from _snames(p.default)
    for a in decl.args:
        yield from _type_names(a.type)
    for result in decl.results:
        yield from _type_names(result.type)
    for stmt in _stmts(decl.body):
        if isinstance(stmt, ast.Repeat):
            yield from _snames(stmt.count)
        elif isinstance(stmt, ast.If):
            yield from _cond_names(stmt.cond)
        else:
            for value in _values(stmt):
                for call in _calls_in_expr(value):
                    for item in call.brackets or []:
                        if isinstance(item, ast.BKw):
                            yield from _snames(item.value)
                        else:
                            for e in [*item.lhs, *(item.rhs or [])]:
                                yield from _snames(e)
                yield from _reads(value)


def _values(stmt: ast.Stmt) -> list[ast.Expr]:
    """The expressions an assignment or a return evaluates."""
    if isinstance(stmt, ast.Assign):
        return [stmt.value]
    if isinstance(stmt, ast.Return):
        return list(stmt.values)
    return []

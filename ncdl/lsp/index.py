"""The editor's index of one ``.ncd`` file: who defines each name, who uses it.

An editor asks "what is under the cursor?", "where is it defined?", "who
uses it?" and "what axes does this value have?". :func:`build` answers all
four from the same front end the compiler uses, with no second parser:

* the syntax trees of the file and every file it imports
  (``ncdl.dsl.imports.load_modules``, spans on every node), walked once to
  resolve each name to a :class:`Symbol` and record an :class:`Occurrence`
  for each place it appears;
* the checked program (``ncdl.loads``): its diagnostics (errors and
  warnings, as the checker reports them) and its IR graphs, even the partial
  graphs of a program with errors. Each IR node keeps the span of the
  expression that made it, so the axes of a value are read off the node whose
  span is the value's expression (:meth:`Index.value_axes`).

Scoping follows the language: global axes and circuits are visible in every
file of the program; a circuit's parameters, arguments, assigned values and
the axes its boxes introduce are local to it. A value assigned twice is one
symbol with two definitions; "go to definition" picks the latest one before
the use.

Example:
    >>> index = build(open("gpt.ncd").read(), "/abs/gpt.ncd")
    >>> occ = index.at("/abs/gpt.ncd", 22, 10)    # 1-based line and column
    >>> occ.symbol.kind, occ.symbol.name
    ('box', 'embed')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Diagnostic, NcdlError, Span
from ncdl.dsl.imports import LIBRARY, load_modules
from ncdl.dsl.parse import parse
from ncdl.dsl.primitives import PRIMITIVES

#: Symbol kinds: what a name can mean.
KINDS = ("axis", "circuit", "model", "value", "int", "box", "option", "file")


@dataclass(frozen=True)
class Symbol:
    """A named thing: where it is defined (``span`` None for primitive boxes)
    and the circuit it belongs to (``""`` for globals)."""

    kind: str
    name: str
    span: Span | None
    container: str = ""


@dataclass(frozen=True)
class Occurrence:
    """One appearance of a symbol in the source; ``node`` is the AST node there
    (an Assign for a value's definition, a Call for a box, ...)."""

    span: Span
    symbol: Symbol
    is_definition: bool
    node: Any = None


@dataclass
class Index:
    """Names, uses, diagnostics and IR of one program (see the module docstring)."""

    path: str
    text: str
    modules: list[ast.Module]
    diagnostics: list[Diagnostic]
    graphs: dict[str, nx.MultiDiGraph]
    occurrences: list[Occurrence] = field(default_factory=list)
    circuits: dict[str, ast.CircuitDecl] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    _by_span: dict[tuple, list[tuple[nx.MultiDiGraph, str]]] = field(default_factory=dict)

    # ---- lookups ---------------------------------------------------------------
    def at(self, file: str, line: int, col: int) -> Occurrence | None:
        """The innermost occurrence covering 1-based ``line``:``col`` of ``file``."""
        best = None
        for occ in self.occurrences:
            s = occ.span
            if s.file == file and s.line == line and s.col <= col <= s.end_col and s.end_line == line:
                if best is None or (s.end_col - s.col) < (best.span.end_col - best.span.col):
                    best = occ
        return best

    def references(self, symbol: Symbol) -> list[Occurrence]:
        """Every occurrence of ``symbol``, definitions included, in source order."""
        found = [o for o in self.occurrences if o.symbol == symbol]
        return sorted(found, key=lambda o: (o.span.file, o.span.line, o.span.col))

    def definition(self, occ: Occurrence) -> Span | None:
        """Where the name at ``occ`` is defined: for a value, the latest
        assignment before the use in the same file; otherwise the declaration."""
        if occ.symbol.kind == "value":
            before = [
                o
                for o in self.references(occ.symbol)
                if o.is_definition and o.span.file == occ.span.file and (o.span.line, o.span.col) < _start(occ.span)
            ]
            if before:
                return before[-1].span
        return occ.symbol.span

    def symbols(self, file: str) -> list[Symbol]:
        """The symbols defined in ``file``, in source order."""
        seen: dict[Symbol, None] = {}
        for occ in self.occurrences:
            if occ.is_definition and occ.span.file == file and occ.symbol.span == occ.span:
                seen.setdefault(occ.symbol, None)
        return sorted(seen, key=lambda s: _start(s.span))

    def circuit_at(self, file: str, line: int) -> ast.CircuitDecl | None:
        """The circuit or model whose text covers ``line`` of ``file``."""
        for decl in self.circuits.values():
            if decl.span.file == file and decl.span.line <= line <= decl.span.end_line:
                return decl
        return None

    def visible(self, file: str, line: int) -> list[Symbol]:
        """The names in scope at ``line`` of ``file``: globals, plus the locals
        of the circuit there."""
        decl = self.circuit_at(file, line)
        out: dict[Symbol, None] = {}
        for occ in self.occurrences:
            sym = occ.symbol
            if sym.container == "" or (decl is not None and sym.container == decl.name):
                out.setdefault(sym, None)
        return list(out)

    # ---- types from the IR -----------------------------------------------------
    def node_at(self, span: Span) -> tuple[nx.MultiDiGraph, dict[str, Any]] | None:
        """The IR node made by the expression at ``span`` (the first instance found)."""
        hits = self._by_span.get(_key(span))
        if not hits:
            return None
        g, node = hits[-1]
        return g, g.nodes[node]

    def value_axes(self, occ: Occurrence, depth: int = 0) -> tuple[list[str], nx.MultiDiGraph] | None:
        """The axes (in order) of the value at a value occurrence, and the graph
        whose axis table gives their sizes; None when no model computes it."""
        if occ.symbol.kind != "value" or depth > 32:
            return None
        node = occ.node
        if isinstance(node, ast.Assign):
            return self.expr_axes(node.value, occ.symbol.container, depth)
        if isinstance(node, ast.ArgDecl):
            hit = self.node_at(node.span)  # a model's input
            if hit:
                return list(hit[1]["axes"]), hit[0]
            return self._argument_axes(occ.symbol.container, node.name, depth)
        target = self.definition(occ)
        for o in self.references(occ.symbol):
            if o.is_definition and o.span == target and o is not occ:
                return self.value_axes(o, depth + 1)
        return None

    def _argument_axes(self, circuit: str, arg: str, depth: int) -> tuple[list[str], nx.MultiDiGraph] | None:
        """A circuit argument's axes at the first call that a model computes
        (the caller's value, so the axes passing by are included)."""
        decl = self.circuits.get(circuit)
        position = next((i for i, a in enumerate(decl.args) if a.name == arg), None) if decl else None
        if position is None:
            return None
        for occ in self.occurrences:
            call = occ.node
            if occ.symbol.kind == "circuit" and occ.symbol.name == circuit and isinstance(call, ast.Call):
                if position < len(call.args):
                    found = self.expr_axes(call.args[position], occ.symbol.container, depth + 1)
                    if found:
                        return found
        return None

    def expr_axes(self, expr: Any, container: str, depth: int = 0) -> tuple[list[str], nx.MultiDiGraph] | None:
        """The axes of the value an expression computes (see :meth:`value_axes`)."""
        if depth > 32:
            return None
        if isinstance(expr, ast.Name):
            occ = next((o for o in self.occurrences if o.span == expr.span), None)
            return self.value_axes(occ, depth + 1) if occ else None
        if isinstance(expr, ast.Call) and expr.func in self.circuits:
            returned = _returns(self.circuits[expr.func].body)
            for ret in returned:
                found = self.expr_axes(ret.value, expr.func, depth + 1)
                if found:
                    return found
            return None
        hit = self.node_at(expr.span)
        return (list(hit[1]["axes"]), hit[0]) if hit else None

    # ---- files ----------------------------------------------------------------
    def real_path(self, file: str) -> Path:
        """The file on disk behind a span's file name (``<ncdl>/x.ncd`` is the bundled library)."""
        if file.startswith("<ncdl>/"):
            return LIBRARY / file[len("<ncdl>/") :]
        return Path(file).resolve()

    def line_text(self, file: str, line: int) -> str:
        """Source line ``line`` (1-based) of ``file``, or ``""``."""
        lines = self.sources.get(file) or []
        return lines[line - 1] if 0 < line <= len(lines) else ""


def build(text: str, path: str, allow_paths: tuple[str, ...] = ()) -> Index:
    """Parse, import and check ``text`` (the contents of ``path``); index it.

    Never raises for a mistake in the program: diagnostics are collected in
    :attr:`Index.diagnostics` and the index holds whatever could be parsed.
    """
    import ncdl

    diagnostics: list[Diagnostic] = []
    graphs: dict[str, nx.MultiDiGraph] = {}
    try:
        program = ncdl.loads(text, path, allow_paths=allow_paths)
        graphs = {name: program.graph(name) for name in program.models}
        diagnostics += list(getattr(program, "diagnostics", None) or getattr(program, "warnings", None) or [])
    except NcdlError as err:
        diagnostics += err.diagnostics
        graphs = dict(getattr(err, "graphs", {}) or {})
    except RecursionError:
        diagnostics.append(Diagnostic("E153", "the program nests too deeply to check", None))
    sources: dict[str, list[str]] = {path: text.splitlines()}
    try:
        modules, sources = load_modules(text, path, allow_paths)
    except NcdlError:
        try:  # an import failed: index the file itself
            modules = [parse(text, path)]
            modules[0].file = path
        except NcdlError:
            modules = []
    except RecursionError:
        modules = []
    index = Index(path, text, modules, diagnostics, graphs, sources=sources)
    _Walker(index).run()
    for g in graphs.values():
        for node, data in g.nodes(data=True):
            span = data.get("span")
            if span:
                key = (span["file"], span["line"], span["col"], span["end_line"], span["end_col"])
                index._by_span.setdefault(key, []).append((g, node))
    return index


def _key(span: Span) -> tuple:
    return (span.file, span.line, span.col, span.end_line, span.end_col)


def _start(span: Span | None) -> tuple[int, int]:
    return (span.line, span.col) if span else (0, 0)


def _name_span(span: Span, name: str, source: str = "") -> Span:
    """The span of ``name`` where a node's span starts with it (``x = ...``)."""
    return Span(span.file, span.line, span.col, span.line, span.col + len(name))


def _returns(body: list[ast.Stmt]) -> list[ast.Return]:
    out: list[ast.Return] = []
    for stmt in body:
        if isinstance(stmt, ast.Return):
            out.append(stmt)
        elif isinstance(stmt, ast.Repeat):
            out += _returns(stmt.body)
        elif isinstance(stmt, ast.If):
            out += _returns(stmt.then) + _returns(stmt.otherwise)
    return out


_WORD_AFTER = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


class _Walker:
    """Resolves every name of every module into the index's occurrence table."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.globals: dict[str, Symbol] = {}
        self.params: dict[str, dict[str, Symbol]] = {}

    def add(self, span: Span | None, symbol: Symbol, definition: bool = False, node: Any = None) -> None:
        if span is not None:
            self.index.occurrences.append(Occurrence(span, symbol, definition, node))

    def run(self) -> None:
        for module in self.index.modules:
            for decl in module.axes:
                span = _name_span(decl.span, decl.name)
                sym = self.globals.setdefault(decl.name, Symbol("axis", decl.name, span))
                self.add(span, sym, True, decl)
            for decl in module.circuits:
                kind = "model" if decl.is_model else "circuit"
                self.index.circuits.setdefault(decl.name, decl)
                sym = Symbol(kind, decl.name, decl.name_span)
                self.globals.setdefault(decl.name, sym)
                self.params[decl.name] = {
                    p.name: Symbol(
                        "int" if p.kind in ("int", "float", "bool") else "axis",
                        p.name,
                        _name_span(p.span, p.name),
                        decl.name,
                    )
                    for p in decl.params
                }
        for module in self.index.modules:
            for use in module.uses:
                target = _use_target(use.path, module.file)
                line = self.index.line_text(use.span.file, use.span.line)
                quote = line.find('"', use.span.col - 1)
                if target is not None and quote >= 0:
                    span = Span(use.span.file, use.span.line, quote + 1, use.span.line, quote + 3 + len(use.path))
                    self.add(span, Symbol("file", str(target), None), False, use)
            for decl in module.axes:
                if decl.alias and decl.alias in self.globals:
                    self.add(decl.alias_span, self.globals[decl.alias], False)
                if decl.value is not None:
                    self.sexpr(decl.value, {})
            for decl in module.circuits:
                self.circuit(decl)

    # ---- one circuit ---------------------------------------------------------------
    def circuit(self, decl: ast.CircuitDecl) -> None:
        sym = self.globals.get(decl.name)
        if sym is not None and sym.span == decl.name_span:
            self.add(decl.name_span, sym, True, decl)
        scope: dict[str, Symbol] = dict(self.params.get(decl.name, {}))
        for p in decl.params:
            self.add(_name_span(p.span, p.name), scope[p.name], True, p)
            if p.default is not None:
                self.sexpr(p.default, scope, decl.name)
        for arg in decl.args:
            self.type_expr(arg.type, scope, decl.name)
            value = scope.setdefault(arg.name, Symbol("value", arg.name, _name_span(arg.span, arg.name), decl.name))
            self.add(_name_span(arg.span, arg.name), value, True, arg)
        for result in decl.results:
            self.type_expr(result.type, scope, decl.name)
        self.block(decl.body, scope, decl.name)

    def block(self, body: list[ast.Stmt], scope: dict[str, Symbol], owner: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                self.expr(stmt.value, scope, owner)
                line = self.index.line_text(stmt.span.file, stmt.span.line)
                col = stmt.span.col - 1
                for name in stmt.names:  # `a, b = F(x)`: each name where it stands
                    found = line.find(name, col)
                    col = found if found >= 0 else col
                    span = Span(stmt.span.file, stmt.span.line, col + 1, stmt.span.line, col + 1 + len(name))
                    col += len(name)
                    sym = scope.get(name)
                    if sym is None or sym.kind != "value":
                        sym = scope[name] = Symbol("value", name, span, owner)
                    self.add(span, sym, True, stmt)
            elif isinstance(stmt, ast.Return):
                for value in stmt.values:
                    self.expr(value, scope, owner)
            elif isinstance(stmt, ast.Repeat):
                self.sexpr(stmt.count, scope, owner)
                if stmt.index:
                    col = self.index.line_text(stmt.span.file, stmt.span.line).find(stmt.index, stmt.span.col - 1)
                    if col >= 0:
                        span = Span(stmt.span.file, stmt.span.line, col + 1, stmt.span.line, col + 1 + len(stmt.index))
                        sym = scope[stmt.index] = Symbol("int", stmt.index, span, owner)
                        self.add(span, sym, True, stmt)
                self.block(stmt.body, scope, owner)
            elif isinstance(stmt, ast.If):
                self.cond(stmt.cond, scope, owner)
                self.block(stmt.then, scope, owner)
                self.block(stmt.otherwise, scope, owner)

    def cond(self, c: ast.Cond, scope: dict[str, Symbol], owner: str) -> None:
        if isinstance(c, ast.Test):  # a bool parameter or an optional argument
            sym = scope.get(c.name)
            if sym is not None:
                self.add(c.span, sym, False, c)
        elif isinstance(c, ast.Cmp):
            self.sexpr(c.left, scope, owner)
            self.sexpr(c.right, scope, owner)
        else:
            self.cond(c.left, scope, owner)
            if c.right is not None:
                self.cond(c.right, scope, owner)

    def type_expr(self, t: ast.TypeExpr, scope: dict[str, Symbol], owner: str) -> None:
        for e in t.axes:
            self.sexpr(e, scope, owner)
        if t.of and t.of_span is not None:
            self.sexpr(ast.SName(t.of, t.of_span), scope, owner)

    def sexpr(self, e: ast.SExpr, scope: dict[str, Symbol], owner: str = "") -> None:
        """A size expression: names are axes or integer parameters; an unknown
        name inside a circuit is an axis its boxes introduce (defined here)."""
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.SBin):
                stack += [e.right, e.left]
            elif isinstance(e, ast.SName):
                sym = scope.get(e.name) or self.globals.get(e.name)
                if sym is not None and sym.kind in ("axis", "int", "value"):
                    self.add(e.span, sym, sym.span == e.span, e)
                elif sym is None and owner:
                    sym = scope[e.name] = Symbol("axis", e.name, e.span, owner)
                    self.add(e.span, sym, True, e)

    def expr(self, e: Any, scope: dict[str, Symbol], owner: str) -> None:
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.Name):
                sym = scope.get(e.name) or self.globals.get(e.name)
                if sym is not None:
                    self.add(e.span, sym, False, e)
            elif isinstance(e, (ast.BinOp,)):
                stack += [e.right, e.left]
            elif isinstance(e, ast.Neg):
                stack.append(e.operand)
            elif isinstance(e, ast.TupleExpr):
                stack += reversed(e.items)
            elif isinstance(e, ast.Call):
                self.call(e, scope, owner)
                stack += reversed([*e.args, *(k.value for k in e.kwargs if k.name != "tie")])

    def call(self, call: ast.Call, scope: dict[str, Symbol], owner: str) -> None:
        target = self.globals.get(call.func)
        if target is not None and target.kind in ("circuit", "model"):
            self.add(call.func_span, target, False, call)
            params = self.params.get(call.func, {})
            for item in call.brackets or []:
                if isinstance(item, ast.BKw):
                    if item.name in params:
                        self.add(_name_span(item.span, item.name), params[item.name], False, item)
                    self.sexpr(item.value, scope, owner)
                else:
                    for x in [*item.lhs, *(item.rhs or [])]:
                        self.sexpr(x, scope, owner)
            return
        if call.func in PRIMITIVES:
            self.add(call.func_span, Symbol("box", call.func, None), False, call)
            for kw in call.kwargs:
                if kw.name in PRIMITIVES[call.func].options:
                    self.add(_name_span(kw.span, kw.name), Symbol("option", f"{call.func}.{kw.name}", None), False, kw)
        for item in call.brackets or []:
            if isinstance(item, ast.BKw):
                self.sexpr(item.value, scope, owner)
            else:
                for x in [*item.lhs, *(item.rhs or [])]:
                    self.sexpr(x, scope, owner)


def _use_target(path: str, importer: str) -> Path | None:
    """The file ``use "path"`` in ``importer`` names: next to it, then the library."""
    base = LIBRARY if importer.startswith("<ncdl>/") else Path(importer).resolve().parent
    for folder in (base, LIBRARY):
        candidate = (folder / path).resolve()
        if candidate.is_file():
            return candidate
    return None

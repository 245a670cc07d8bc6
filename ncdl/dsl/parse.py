"""Text to syntax tree: the Lark LALR parser and the tree builder.

The grammar lives in ``grammar.lark``. The builder runs inside the parser
(Lark's inline transformer), so deep expressions never recurse in Python.
Syntax errors become :class:`Diagnostic` objects pointing at the token.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import lark
from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Diagnostic, NcdlError, Span
from ncdl.dsl.source import check_text

_GRAMMAR = Path(__file__).with_name("grammar.lark")

# Readable names for the grammar's terminals, for "expected ..." hints.
_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "NUMBER": "a number",
    "STRING": "a string",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "__ANON_0": "'->'",
    "SEMICOLON": "';'",
    "$END": "end of file",
    "CMP": "a comparison",
}


class _Builder(Transformer_NonRecursive):
    """Builds :mod:`ncdl.dsl.ast` nodes bottom-up with spans."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    # helpers --------------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # top level -------------------------------------------------------------
    def start(self, items: list) -> ast.Module:
        module = ast.Module(self.file)
        for item in items:
            if isinstance(item, ast.UseDecl):
                module.uses.append(item)
            elif isinstance(item, list):
                module.axes.extend(item)
            else:
                item.file = self.file
                module.circuits.append(item)
        return module

    @v_args(meta=True)
    def use_decl(self, meta: Any, c: list) -> ast.UseDecl:
        return ast.UseDecl(c[0][1:-1], self._span(meta))

    def axis_decl(self, c: list) -> list:
        return c

    @v_args(meta=True)
    def axis_free(self, meta: Any, c: list) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "free", None, None, self._span(meta))

    @v_args(meta=True)
    def axis_bounded(self, meta: Any, c: list) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "bounded", c[1], None, self._span(meta))

    @v_args(meta=True)
    def axis_alias(self, meta: Any, c: list) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "alias", None, str(c[1]), self._span(meta), self._tok(c[1]))

    @v_args(meta=True)
    def axis_sized(self, meta: Any, c: list) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "sized", c[1], None, self._span(meta))

    def kind_circuit(self, c: list) -> bool:
        return False

    def kind_model(self, c: list) -> bool:
        return True

    @v_args(meta=True)
    def circuit_decl(self, meta: Any, c: list) -> ast.CircuitDecl:
        is_model, name = c[0], c[1]
        rest = c[2:]
        params: list[ast.ParamDecl] = []
        if rest and isinstance(rest[0], tuple) and rest[0] and rest[0][0] == "cparams":
            params = rest[0][1]
            rest = rest[1:]
        *args, result, body = rest
        args = [a for a in args if a is not None]
        return ast.CircuitDecl(str(name), is_model, params, args, result, body, self._span(meta), self._tok(name))

    def cparams(self, c: list) -> tuple:
        return ("cparams", [p for p in c if p is not None])

    @v_args(meta=True)
    def cparam(self, meta: Any, c: list) -> ast.ParamDecl:
        name, kind, default = c
        return ast.ParamDecl(str(name), str(kind) if kind is not None else None, default, self._span(meta))

    @v_args(meta=True)
    def arg_decl(self, meta: Any, c: list) -> ast.ArgDecl:
        return ast.ArgDecl(str(c[0]), c[1], self._span(meta))

    def int_kw(self, c: list) -> str:
        return "int"

    @v_args(meta=True)
    def type(self, meta: Any, c: list) -> ast.TypeExpr:
        dtype = "float"
        if c and c[0] == "int":
            dtype, c = "int", c[1:]
        *axes, of = c
        of_span = self._tok(of) if of is not None else None
        return ast.TypeExpr(
            dtype, [a for a in axes if a is not None], str(of) if of else None, self._span(meta), of_span
        )

    def block(self, c: list) -> list:
        return c

    # statements ------------------------------------------------------------
    @v_args(meta=True)
    def assign(self, meta: Any, c: list) -> ast.Assign:
        return ast.Assign(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def return_stmt(self, meta: Any, c: list) -> ast.Return:
        return ast.Return(c[0], self._span(meta))

    @v_args(meta=True)
    def repeat_stmt(self, meta: Any, c: list) -> ast.Repeat:
        count, label, body = c
        return ast.Repeat(count, str(label) if label else None, body, self._span(meta))

    @v_args(meta=True)
    def if_stmt(self, meta: Any, c: list) -> ast.If:
        cond, then, otherwise = c
        if isinstance(otherwise, ast.If):
            otherwise = [otherwise]
        return ast.If(cond, then, otherwise or [], self._span(meta))

    # expressions -----------------------------------------------------------
    def _binop(op: str):  # noqa: N805 - a factory used in the class body
        @v_args(meta=True)
        def build(self: _Builder, meta: Any, c: list) -> ast.BinOp:
            return ast.BinOp(op, c[0], c[1], self._span(meta))

        return build

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    pow = _binop("**")

    @v_args(meta=True)
    def neg(self, meta: Any, c: list) -> ast.Neg:
        return ast.Neg(c[0], self._span(meta))

    def name(self, c: list) -> ast.Name:
        return ast.Name(str(c[0]), self._tok(c[0]))

    def number(self, c: list) -> ast.Number:
        text = str(c[0])
        is_int = text.isdigit()
        return ast.Number(float(text) if not is_int else int(text), is_int, self._tok(c[0]))

    def string(self, c: list) -> ast.String:
        return ast.String(str(c[0])[1:-1], self._tok(c[0]))

    @v_args(meta=True)
    def true(self, meta: Any, c: list) -> ast.Bool:
        return ast.Bool(True, self._span(meta))

    @v_args(meta=True)
    def false(self, meta: Any, c: list) -> ast.Bool:
        return ast.Bool(False, self._span(meta))

    @v_args(meta=True)
    def tuple(self, meta: Any, c: list) -> ast.TupleExpr:
        return ast.TupleExpr([x for x in c if x is not None], self._span(meta))

    @v_args(meta=True)
    def kwarg(self, meta: Any, c: list) -> ast.Kwarg:
        return ast.Kwarg(str(c[0]), c[1], self._span(meta))

    def call_args(self, c: list) -> tuple:
        return ("args", [x for x in c if x is not None])

    def label(self, c: list) -> tuple:
        return ("label", str(c[0]))

    def _call(self, meta: Any, c: list) -> ast.Call:
        name = c[0]
        brackets = None
        brackets_span = None
        args: list = []
        kwargs: list = []
        label = None
        for part in c[1:]:
            if part is None:
                continue
            tag = part[0]
            if tag == "brackets":
                brackets, brackets_span = part[1], part[2]
            elif tag == "args":
                for a in part[1]:
                    (kwargs if isinstance(a, ast.Kwarg) else args).append(a)
            elif tag == "label":
                label = part[1]
        return ast.Call(str(name), self._tok(name), brackets, args, kwargs, label, self._span(meta), brackets_span)

    @v_args(meta=True)
    def call(self, meta: Any, c: list) -> ast.Call:
        return self._call(meta, c)

    @v_args(meta=True)
    def stage(self, meta: Any, c: list) -> ast.Call:
        return self._call(meta, c)

    @v_args(meta=True)
    def chain(self, meta: Any, c: list) -> ast.Call:
        head, stage = c
        stage.args.insert(0, head)
        stage.from_chain = True
        return stage

    # brackets and sizes ----------------------------------------------------
    @v_args(meta=True)
    def brackets(self, meta: Any, c: list) -> tuple:
        return ("brackets", [x for x in c if x is not None], self._span(meta))

    @v_args(meta=True)
    def bmap(self, meta: Any, c: list) -> ast.BMap:
        return ast.BMap(c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def bkw(self, meta: Any, c: list) -> ast.BKw:
        return ast.BKw(str(c[0]), c[1], self._span(meta))

    def sgroup(self, c: list) -> list:
        return c

    def sname(self, c: list) -> ast.SName:
        return ast.SName(str(c[0]), self._tok(c[0]))

    def sint(self, c: list) -> ast.SInt:
        return ast.SInt(int(str(c[0])), self._tok(c[0]))

    def _sbin(op: str):  # noqa: N805
        @v_args(meta=True)
        def build(self: _Builder, meta: Any, c: list) -> ast.SBin:
            return ast.SBin(op, c[0], c[1], self._span(meta))

        return build

    sadd = _sbin("+")
    ssub = _sbin("-")
    smul = _sbin("*")
    sdiv = _sbin("/")
    sfloordiv = _sbin("//")

    @v_args(meta=True)
    def ccmp(self, meta: Any, c: list) -> ast.Cmp:
        return ast.Cmp(str(c[1]), c[0], c[2], self._span(meta))

    @v_args(meta=True)
    def cand(self, meta: Any, c: list) -> ast.BoolOp:
        return ast.BoolOp("and", c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def cor(self, meta: Any, c: list) -> ast.BoolOp:
        return ast.BoolOp("or", c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def cnot(self, meta: Any, c: list) -> ast.BoolOp:
        return ast.BoolOp("not", c[0], None, self._span(meta))


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(_GRAMMAR.read_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse ncdl source into a :class:`ast.Module`; raise NcdlError on syntax errors."""
    check_text(text, file)
    lines = text.splitlines()
    try:
        tree = _parser().parse(text)
    except lark.UnexpectedInput as err:
        raise NcdlError([_syntax_diagnostic(err, file, lines)]) from None
    return _Builder(file).transform(tree)


def _syntax_diagnostic(err: lark.UnexpectedInput, file: str, lines: list[str]) -> Diagnostic:
    line, col = max(1, err.line), max(1, err.column)
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    width = 1
    if isinstance(err, lark.UnexpectedToken):
        tok = err.token
        found = "end of file" if tok.type == "$END" else f"'{tok}'"
        width = max(1, len(str(tok))) if tok.type != "$END" else 1
        expected = sorted({_TOKEN_NAMES.get(t, _literal(t)) for t in err.expected})
        message = f"unexpected {found}"
        hint = "expected " + _or_list(expected) if expected else None
        if tok.type == "$END":
            line = len(lines) or 1
            source = lines[-1] if lines else ""
            col = len(source) + 1
    elif isinstance(err, lark.UnexpectedCharacters):
        message = f"unexpected character {source[col - 1]!r}" if col - 1 < len(source) else "unexpected character"
        hint = "names are letters, digits and '_'; comments start with '#'"
    else:  # UnexpectedEOF
        message = "unexpected end of file"
        hint = "a '{', '(' or '[' is not closed"
    span = Span(file, line, col, line, col + width)
    return Diagnostic("E001", message, span, hint, source)


def _literal(terminal: str) -> str:
    """A readable form of an anonymous terminal name like ``PLUS``."""
    symbols = {
        "PLUS": "'+'",
        "MINUS": "'-'",
        "STAR": "'*'",
        "SLASH": "'/'",
        "MORETHAN": "'>'",
        "LESSTHAN": "'<'",
        "TILDE": "'~'",
        "DOT": "'.'",
    }
    if terminal in symbols:
        return symbols[terminal]
    return f"'{terminal.lower()}'" if terminal.isalpha() and terminal.isupper() else terminal


def _or_list(items: list[str]) -> str:
    if len(items) <= 2:
        return " or ".join(items)
    if len(items) > 6:
        return ", ".join(items[:6]) + ", ..."
    return ", ".join(items[:-1]) + " or " + items[-1]

"""Text to syntax tree: the grammar's LALR table, run by our driver, and the tree builder.

The grammar lives in ``grammar.lark``. Lark compiles it once into an LALR(1)
parse table (``lark.Lark(..., parser="lalr")``, cached); Lark's own parser
never runs. :mod:`ncdl.dsl.lalr` drives that table with its own lexer and
calls the tree builder (:class:`_Builder`) at each reduction, so no parse
tree is built and deep expressions never recurse in Python. Because the
driver leans on Lark's internals (the table's layout, its tree-shaping
options), ``pyproject.toml`` bounds Lark's version and
``tests/dsl/test_parser_differential.py`` checks that it builds the same trees
as Lark's own LALR parser on every bundled and documented program. Syntax
errors become :class:`Diagnostic` objects pointing at the token.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import lark

from ncdl.dsl import ast, lalr
from ncdl.dsl.diagnostics import Diagnostic, NcdlError, Span
from ncdl.dsl.source import check_text, lines, normalize

_GRAMMAR = Path(__file__).with_name("grammar.lark")

# Readable names for the pattern terminals in "expected ..." hints; literal
# terminals are shown as their text.
_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "NUMBER": "a number",
    "STRING": "a string",
    "$END": "end of file",
    "CMP": "a comparison",
}


def _binary(node: type, op: str):
    """A tree-builder method for the binary operator ``op`` (tensor or size)."""

    def build(self: _Builder, c: list, span: Span) -> ast.BinOp | ast.SBin:
        return node(op, c[0], c[1], span)

    return build


class _Builder:
    """Builds :mod:`ncdl.dsl.ast` nodes bottom-up; each rule method gets the
    rule's filtered children and the span of everything it matched."""

    # top level -------------------------------------------------------------
    def start(self, items: list, span: Span) -> ast.Module:
        module = ast.Module("")
        for item in items:
            if isinstance(item, ast.UseDecl):
                module.uses.append(item)
            elif isinstance(item, list):
                module.axes.extend(item)
            elif isinstance(item, ast.ModelAlias):
                module.aliases.append(item)
            else:
                module.circuits.append(item)
        return module

    def use_decl(self, c: list, span: Span) -> ast.UseDecl:
        return ast.UseDecl(str(c[0])[1:-1], span)

    def axis_decl(self, c: list, span: Span) -> list:
        return c

    def axis_free(self, c: list, span: Span) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "free", None, None, span)

    def axis_bounded(self, c: list, span: Span) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "bounded", c[1], None, span)

    def axis_alias(self, c: list, span: Span) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "alias", None, str(c[1]), span, c[1].span)

    def axis_sized(self, c: list, span: Span) -> ast.AxisDecl:
        return ast.AxisDecl(str(c[0]), "sized", c[1], None, span)

    def kind_circuit(self, c: list, span: Span) -> bool:
        return False

    def kind_model(self, c: list, span: Span) -> bool:
        return True

    def circuit_decl(self, c: list, span: Span) -> ast.CircuitDecl:
        is_model, name = c[0], c[1]
        rest = c[2:]
        params: list[ast.ParamDecl] = []
        if rest and isinstance(rest[0], tuple) and rest[0] and rest[0][0] == "cparams":
            params = rest[0][1]
            rest = rest[1:]
        *args, result, body = rest
        args = [a for a in args if a is not None]
        return ast.CircuitDecl(str(name), is_model, params, args, result, body, span, name.span)

    def model_alias(self, c: list, span: Span) -> ast.ModelAlias:
        is_model, name, base, *rest = c
        items = rest[0][1] if rest and rest[0] else []
        return ast.ModelAlias(str(name), is_model, str(base), base.span, items, span, name.span)

    def cparams(self, c: list, span: Span) -> tuple:
        return ("cparams", [p for p in c if p is not None])

    def cparam(self, c: list, span: Span) -> ast.ParamDecl:
        name, kind, default = c
        return ast.ParamDecl(str(name), str(kind) if kind is not None else None, default, span)

    def arg_decl(self, c: list, span: Span) -> ast.ArgDecl:
        return ast.ArgDecl(str(c[0]), c[1], span, c[2] is not None)

    def optional(self, c: list, span: Span) -> bool:
        return True

    def results(self, c: list, span: Span) -> list[ast.ResultDecl]:
        if len(c) == 1 and isinstance(c[0], ast.TypeExpr):
            return [ast.ResultDecl(None, c[0], c[0].span)]
        return c

    def result_decl(self, c: list, span: Span) -> ast.ResultDecl:
        name, type_ = c
        return ast.ResultDecl(str(name) if name is not None else None, type_, span)

    def pfloat(self, c: list, span: Span) -> ast.Number:
        return ast.Number(float(str(c[0])), False, c[0].span)

    def int_kw(self, c: list, span: Span) -> str:
        return "int"

    def bool_kw(self, c: list, span: Span) -> str:
        return "bool"

    def type(self, c: list, span: Span) -> ast.TypeExpr:
        dtype = "float"
        if c and isinstance(c[0], str) and c[0] in ("int", "bool"):
            dtype, c = c[0], c[1:]
        *axes, of = c
        of_span = of.span if of is not None else None
        return ast.TypeExpr(dtype, [a for a in axes if a is not None], str(of) if of else None, span, of_span)

    def block(self, c: list, span: Span) -> list:
        return c

    # statements ------------------------------------------------------------
    def assign(self, c: list, span: Span) -> ast.Assign:
        *names, value = c
        return ast.Assign([str(n) for n in names], value, span)

    def return_stmt(self, c: list, span: Span) -> ast.Return:
        return ast.Return(c, span)

    def repeat_stmt(self, c: list, span: Span) -> ast.Repeat:
        index, count, label, body = c
        return ast.Repeat(count, str(label) if label else None, body, span, str(index) if index else None)

    def if_stmt(self, c: list, span: Span) -> ast.If:
        cond, then, otherwise = c
        if isinstance(otherwise, ast.If):
            otherwise = [otherwise]
        return ast.If(cond, then, otherwise or [], span)

    # expressions -----------------------------------------------------------
    add = _binary(ast.BinOp, "+")
    sub = _binary(ast.BinOp, "-")
    mul = _binary(ast.BinOp, "*")
    div = _binary(ast.BinOp, "/")
    pow = _binary(ast.BinOp, "**")

    and_ = _binary(ast.BinOp, "and")
    or_ = _binary(ast.BinOp, "or")

    def neg(self, c: list, span: Span) -> ast.Neg:
        return ast.Neg(c[0], span)

    def not_(self, c: list, span: Span) -> ast.Not:
        return ast.Not(c[0], span)

    def compare(self, c: list, span: Span) -> ast.BinOp:
        return ast.BinOp(str(c[1]), c[0], c[2], span)

    def name(self, c: list, span: Span) -> ast.Name:
        return ast.Name(str(c[0]), c[0].span)

    def number(self, c: list, span: Span) -> ast.Number:
        text = str(c[0])
        is_int = text.isdigit()
        return ast.Number(float(text) if not is_int else int(text), is_int, c[0].span)

    def string(self, c: list, span: Span) -> ast.String:
        return ast.String(str(c[0])[1:-1], c[0].span)

    def true(self, c: list, span: Span) -> ast.Bool:
        return ast.Bool(True, span)

    def false(self, c: list, span: Span) -> ast.Bool:
        return ast.Bool(False, span)

    def tuple(self, c: list, span: Span) -> ast.TupleExpr:
        return ast.TupleExpr([x for x in c if x is not None], span)

    def kwarg(self, c: list, span: Span) -> ast.Kwarg:
        return ast.Kwarg(str(c[0]), c[1], span)

    def call_args(self, c: list, span: Span) -> tuple:
        return ("args", [x for x in c if x is not None])

    def label(self, c: list, span: Span) -> tuple:
        return ("label", c[0])

    def path(self, c: list, span: Span) -> str:
        return ".".join(str(part) for part in c)

    def _call(self, c: list, span: Span) -> ast.Call:
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
        return ast.Call(str(name), name.span, brackets, args, kwargs, label, span, brackets_span)

    def call(self, c: list, span: Span) -> ast.Call:
        return self._call(c, span)

    def stage(self, c: list, span: Span) -> ast.Call:
        return self._call(c, span)

    def chain(self, c: list, span: Span) -> ast.Call:
        head, stage = c
        stage.args.insert(0, head)
        stage.from_chain = True
        return stage

    # brackets and sizes ----------------------------------------------------
    def brackets(self, c: list, span: Span) -> tuple:
        return ("brackets", [x for x in c if x is not None], span)

    def bmap(self, c: list, span: Span) -> ast.BMap:
        return ast.BMap(c[0], c[1], span)

    def bkw(self, c: list, span: Span) -> ast.BKw:
        return ast.BKw(str(c[0]), c[1], span)

    def sgroup(self, c: list, span: Span) -> list:
        return c

    def sname(self, c: list, span: Span) -> ast.SName:
        return ast.SName(str(c[0]), c[0].span)

    def sint(self, c: list, span: Span) -> ast.SInt:
        return ast.SInt(int(str(c[0])), c[0].span)

    sadd = _binary(ast.SBin, "+")
    ssub = _binary(ast.SBin, "-")
    smul = _binary(ast.SBin, "*")
    sdiv = _binary(ast.SBin, "/")
    sfloordiv = _binary(ast.SBin, "//")

    def ccmp(self, c: list, span: Span) -> ast.Cmp:
        return ast.Cmp(str(c[1]), c[0], c[2], span)

    def cand(self, c: list, span: Span) -> ast.BoolOp:
        return ast.BoolOp("and", c[0], c[1], span)

    def cor(self, c: list, span: Span) -> ast.BoolOp:
        return ast.BoolOp("or", c[0], c[1], span)

    def cnot(self, c: list, span: Span) -> ast.BoolOp:
        return ast.BoolOp("not", c[0], None, span)

    def ctest(self, c: list, span: Span) -> ast.Test:
        return ast.Test(str(c[0]), span)


_BUILDER = _Builder()


@functools.cache
def _tables() -> lalr.Tables:
    grammar = _GRAMMAR.read_text()
    return lalr.Tables(lark.Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True))


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse ncdl source into a :class:`ast.Module`; raise NcdlError on syntax errors."""
    text = normalize(text)
    check_text(text, file)
    tables = _tables()
    try:
        module = lalr.run(tables, _BUILDER, text, file)
    except lalr.SyntaxProblem as problem:
        raise NcdlError([_syntax_diagnostic(problem, tables, lines(text))]) from None
    module.file = file
    for circuit in [*module.circuits, *module.aliases]:
        circuit.file = file
    return module


def _syntax_diagnostic(problem: lalr.SyntaxProblem, tables: lalr.Tables, lines: list[str]) -> Diagnostic:
    span = problem.span
    source = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
    if problem.kind == "character":
        message = f"unexpected character {problem.found!r}"
        hint = "names are letters, digits and '_'; comments start with '#'"
        return Diagnostic("E001", message, span, hint, source)
    starts_line = problem.found == "end of file" or (0 < span.line <= len(lines) and not source[: span.col - 1].strip())
    unclosed = _unclosed_bracket(lines, span) if starts_line else None
    if unclosed is not None:  # the parser only notices on a later line
        line, col, ch = unclosed
        close = _CLOSE[ch]
        where = "end of file" if problem.found == "end of file" else f"line {span.line}"
        message = f"'{ch}' is never closed"
        hint = f"close it with '{close}' (the parser stopped at '{problem.found}' on {where})"
        return Diagnostic("E001", message, Span(span.file, line, col, line, col + 1), hint, lines[line - 1])
    if problem.found == "end of file":
        message = "unexpected end of file"
        line = len(lines) or 1
        source = lines[-1] if lines else ""
        span = Span(span.file, line, len(source) + 1, line, len(source) + 2)
    else:
        message = f"unexpected '{problem.found}'"
    terminals = [t for t in problem.expected if t.isupper() or t == "$END"]
    names = {_TOKEN_NAMES.get(t) or _quote(tables.literal_names.get(t, t)) for t in terminals}
    hint = _habit_hint(source, span) or ("expected " + _or_list(sorted(names)) if names else None)
    return Diagnostic("E001", message, span, hint, source)


_CLOSE = {"(": ")", "[": "]", "{": "}"}
_AUGMENTED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(\*\*|//|[-+*/])=\s*(.+?)\s*;?\s*$")


def _habit_hint(source: str, span: Span) -> str | None:
    """A hint for a Python or maths habit ncdl does not share, or None."""
    col = span.col - 1
    augmented = _AUGMENTED.match(source.split("#")[0])
    if augmented and col >= augmented.start(2) and col <= augmented.end(2):
        name, op, rhs = augmented.groups()
        return f"ncdl has no `{op}=`: write `{name} = {name} {op} {rhs}`"
    digits = re.search(r"[0-9]+$", source[:col])
    if digits and col < len(source) and (source[col].isalpha() or source[col] == "_"):
        word = re.match(r"\w+", source[col:]).group()
        return f"write `{digits.group()} * {word}`: a number and a name need `*` between them"
    return None


def _unclosed_bracket(lines: list[str], at: Span) -> tuple[int, int, str] | None:
    """The innermost bracket still open at ``at`` if it was opened on an earlier
    line and the next line started a new statement (a missing ``)`` or ``]``)."""
    stack: list[tuple[int, int, str]] = []
    for number, line in enumerate(lines[: at.line], 1):
        end = at.col - 1 if number == at.line else len(line)
        in_string = False
        for col, ch in enumerate(line[:end], 1):
            if ch == '"':
                in_string = not in_string
            elif in_string:
                continue
            elif ch == "#":
                break
            elif ch in _CLOSE:
                stack.append((number, col, ch))
            elif ch in ")]}":
                if stack and _CLOSE[stack[-1][2]] == ch:
                    stack.pop()
    if not stack or stack[-1][2] == "{" or stack[-1][0] == at.line:
        return None
    return stack[-1]


def _quote(text: str) -> str:
    return f"'{text}'"


def _or_list(items: list[str]) -> str:
    if len(items) <= 2:
        return " or ".join(items)
    if len(items) > 7:
        return ", ".join(items[:7]) + ", ..."
    return ", ".join(items[:-1]) + " or " + items[-1]

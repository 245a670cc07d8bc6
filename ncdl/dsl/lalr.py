"""A fast LALR(1) driver over the parse table Lark builds from ``grammar.lark``.

Lark compiles the grammar (and checks it for conflicts); this module runs the
table with a single-regex, parser-aware lexer and calls the tree builder
directly, without intermediate parse trees. It keeps Lark's tree-shaping
rules (``?rule`` inlining, filtered anonymous tokens, ``[x]`` placeholders)
and computes every node's span from all the tokens it matched. Parsing is
iterative: deep input never recurses in Python.

The lexer is contextual like Lark's: a word such as ``model`` is the keyword
only where the parser can accept the keyword, and a name everywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lark

from ncdl.dsl.diagnostics import Span


class Token:
    """A lexeme with its terminal type and span; ``str(token)`` is its text."""

    __slots__ = ("type", "value", "span")

    def __init__(self, type_: str, value: str, span: Span) -> None:
        self.type = type_
        self.value = value
        self.span = span

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Token({self.type}, {self.value!r})"


@dataclass
class SyntaxProblem(Exception):
    """Where and why the input does not parse (turned into a diagnostic by the caller)."""

    kind: str  # "token" | "character"
    span: Span
    found: str
    expected: list[str]


_WS = re.compile(r"(?:[ \t\f\r\n]+|#[^\n]*)+")


@dataclass
class _RulePlan:
    """How one reduction shapes its children (mirrors Lark's tree builder)."""

    callback: Callable[[list, Span], Any] | None  # None: an inlined helper rule (returns its list)
    size: int
    include: list[tuple[int, bool, int]]  # (child index, splice it, Nones to insert before)
    trailing_nones: int
    expand1: bool
    origin: str
    passthrough: bool = False  # a unit rule that hands its one child up unchanged


class Tables:
    """The grammar's parse table, terminals and per-rule tree-shaping plans."""

    def __init__(self, parser: lark.Lark) -> None:
        table = parser.parser.parser.parser.parse_table
        self.states: dict[int, dict[str, tuple[Any, Any]]] = table.states
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        literals: dict[str, str] = {}
        patterns: dict[str, str] = {}
        for t in parser.terminals:
            if t.name in parser.lexer_conf.ignore:
                continue
            if t.pattern.type == "str":
                literals[t.pattern.value] = t.name
            else:
                patterns[t.name] = t.pattern.value
        self.cmp_ops = {"==", "!=", "<=", ">=", "<", ">"}
        self.literal_names = {name: value for value, name in literals.items()}
        self.keywords = {v: n for v, n in literals.items() if re.fullmatch(r"[A-Za-z_]\w*", v)}
        symbols = sorted((v for v in literals if v not in self.keywords), key=len, reverse=True)
        self.symbols = {v: literals[v] for v in symbols}
        # one regex: strings, numbers, names, then symbols longest first
        self.token_re = re.compile(
            "|".join(
                [
                    r"(?P<STRING>" + patterns["STRING"] + ")",
                    r"(?P<NUMBER>([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?)",
                    r"(?P<NAME>" + patterns["NAME"] + ")",
                    r"(?P<SYM>"
                    + "|".join(re.escape(v) for v in sorted(set(symbols) | self.cmp_ops, key=len, reverse=True))
                    + ")",
                ]
            )
        )
        self.rules = list(parser.rules)
        # anonymous literals ("(", "return", ...) never reach the tree builder
        self.dropped = {sym.name for rule in self.rules for sym in rule.expansion if sym.is_term and sym.filter_out}
        self._actions: dict[int, dict[str, Any]] | None = None

    def compile(self, builder: Any) -> dict[int, dict[str, Any]]:
        """The table with each action as an int (shift or goto: the next state) or a
        :class:`_RulePlan` (reduce) bound to ``builder``, a stateless tree builder."""
        if self._actions is None:
            plans = self.plans(builder)
            self._actions = {
                state: {t: (arg if op.name == "Shift" else plans[arg]) for t, (op, arg) in row.items()}
                for state, row in self.states.items()
            }
        return self._actions

    def plans(self, builder: Any) -> dict[Any, _RulePlan]:
        """Tree-shaping plans for every rule, bound to ``builder``'s methods."""
        out = {}
        for rule in self.rules:
            expansion = rule.expansion
            empties = rule.options.empty_indices
            if empties:
                ones = "".join(str(int(b)) for b in empties).split("0")
                nones = [len(x) for x in ones]
            else:
                nones = [0] * (len(expansion) + 1)
            include = []
            pending = 0
            for i, sym in enumerate(expansion):
                pending += nones[i]
                if not (sym.is_term and sym.filter_out):
                    include.append((i, (not sym.is_term) and sym.name.startswith("_"), pending))
                    pending = 0
            pending += nones[len(expansion)]
            origin = rule.origin.name
            name = rule.alias or rule.options.template_source or origin
            callback = None if origin.startswith("_") else getattr(builder, str(name), None)
            if callback is None and not origin.startswith("_") and not rule.options.expand1:
                raise TypeError(f"the tree builder has no method for rule {name!r}")
            expand1 = bool(rule.options.expand1 and not rule.alias)
            plan = _RulePlan(callback, len(expansion), include, pending, expand1, origin)
            plan.passthrough = expand1 and len(expansion) == 1 and include == [(0, False, 0)] and not pending
            out[rule] = plan
        return out


def _shifts(states: dict[int, dict[str, tuple[Any, Any]]], stack: list[int], terminal: str) -> bool:
    """Whether ``terminal`` is shifted (after the reductions it triggers) from the parser state ``stack``.

    LALR merges states, so a state may list a terminal as a lookahead that only
    some of its contexts can continue with: after ``linear[model -> heads``, the
    state that reduces ``heads`` also expects ``model`` (a ``model`` declaration
    may follow ``axis d = heads``). Where a word may be both a keyword and a name,
    the lexer reads the keyword only when the parse can really go on with it.
    """
    stack = list(stack)
    while True:
        action = states[stack[-1]].get(terminal)
        if action is None:
            return False
        op, arg = action
        if op.name == "Shift":
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        goto = states[stack[-1]].get(arg.origin.name)
        if goto is None:
            return False
        stack.append(goto[1])


def run(tables: Tables, builder: Any, text: str, file: str) -> Any:
    """Parse ``text``; return the builder's value for the start rule or raise SyntaxProblem."""
    states = tables.states
    shift = tables.compile(builder)
    dropped = tables.dropped
    token_re, keywords, symbols, cmp_ops = tables.token_re, tables.keywords, tables.symbols, tables.cmp_ops
    ws_match = _WS.match
    n = len(text)
    line, line_start = 1, 0  # the lexer's position, kept incrementally

    state_stack = [tables.start]
    values: list[Any] = []
    spans: list[tuple[int, int, int, int]] = []  # (line, col, end line, end col) per stack entry

    def next_token(pos: int) -> tuple[str, str, int, tuple[int, int, int, int]]:
        nonlocal line, line_start
        m = ws_match(text, pos)
        if m:
            end = m.end()
            newlines = text.count("\n", pos, end)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, end) + 1
            pos = end
        col = pos - line_start + 1
        if pos >= n:
            return "$END", "", pos, (line, col, line, col)
        m = token_re.match(text, pos)
        if m is None:
            where = Span(file, line, col, line, col + 1)
            raise SyntaxProblem("character", where, text[pos], [])
        kind = m.lastgroup
        value = m.group()
        accept = states[state_stack[-1]]
        if kind == "NAME":
            keyword = keywords.get(value)
            if keyword is not None and keyword in accept:
                kind = keyword if "NAME" not in accept or _shifts(states, state_stack, keyword) else "NAME"
        elif kind == "NUMBER":
            if value.isdigit():
                kind = "INT" if "INT" in accept else "NUMBER"
            elif "FLOAT" in accept or "NUMBER" in accept:
                kind = "FLOAT" if "FLOAT" in accept else "NUMBER"
            else:  # no number may come here: in a path (`layer.3.attn`) read the digits or the dot alone
                digits = re.match(r"[0-9]*", value).group()
                value = digits or "."
                kind = "INT" if digits else symbols["."]
                return kind, value, pos + len(value), (line, col, line, col + len(value))
        elif kind == "SYM":
            kind = "CMP" if value in cmp_ops and ("CMP" in accept or value not in symbols) else symbols[value]
        # every token but strings sits on one line, and strings cannot hold newlines
        return kind, value, m.end(), (line, col, line, col + len(value))

    kind, value, end, where = next_token(0)
    while True:
        state = state_stack[-1]
        action = shift[state].get(kind)
        if action is None:
            expected = sorted(states[state])
            found = "end of file" if kind == "$END" else value
            raise SyntaxProblem("token", Span(file, *where), found, expected)
        if action.__class__ is int:
            state_stack.append(action)
            values.append(None if kind in dropped else Token(kind, value, Span(file, *where)))
            spans.append(where)
            kind, value, end, where = next_token(end)
            continue
        plan = action
        if plan.passthrough:
            state_stack.pop()
            state_stack.append(shift[state_stack[-1]][plan.origin])
            continue
        size = plan.size
        if size:
            children = values[-size:]
            first, last = spans[-size], spans[-1]
            del values[-size:], spans[-size:], state_stack[-size:]
            span = (first[0], first[1], last[2], last[3])
        else:
            children, span = [], (where[0], where[1], where[0], where[1])
        filtered: list[Any] = []
        for i, splice, nones in plan.include:
            if nones:
                filtered.extend([None] * nones)
            if splice and not filtered and children[i].__class__ is list:
                # a left-recursive list (`_stmts: _stmts stmt`) grows in place, as Lark's
                # own filter does: copying it at each reduction would be quadratic
                filtered = children[i]
            elif splice:
                filtered.extend(children[i])
            else:
                filtered.append(children[i])
        if plan.trailing_nones:
            filtered.extend([None] * plan.trailing_nones)
        if plan.expand1 and len(filtered) == 1:
            result = filtered[0]
        elif plan.callback is None:
            result = filtered
        else:
            result = plan.callback(filtered, Span(file, *span))
        values.append(result)
        spans.append(span)
        state_stack.append(shift[state_stack[-1]][plan.origin])
        if kind == "$END" and state_stack[-1] == tables.end:
            return values[-1]

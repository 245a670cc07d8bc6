"""Generated programs with one injected mistake whose verdict is known.

``mistake(seed)`` takes the valid program of the same seed
(``ncd_gen.program``) and injects one of:

* ``dead``: a value computed and never used; the checker must warn at its
  line (W001, or W002 when it holds a learned box);
* ``duplicate``: the same ``as`` label twice in one scope (a box, a circuit
  call, a dotted path, two boxes inside one ``repeat`` body); the checker
  must refuse it with E163 at the second label;
* ``derived``: axes named by size expressions (``(2*a)`` inside a circuit
  bound to a caller's ``(c+1)``) next to a user axis named by another
  expression that may read the same; the checker may refuse it with a
  located diagnostic, but when it accepts, every axis named by an
  expression must have the size that expression gives.

``judge(seed)`` checks the program and returns ``("caught", ...)`` or
``("rejected", ...)`` (the base program did not check); it raises
``campaign.Finding("silent", ...)`` when the mistake passes without its
verdict.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

import ncd_gen

KINDS = ("dead", "duplicate", "derived")


@dataclass
class Mistake:
    """A program with one mistake: its text, kind and the line where the verdict must point."""

    seed: int
    text: str
    kind: str
    line: int
    expected: tuple[str, ...]


def _inputs_fixed(text: str) -> list[str]:
    """The sized axes of the model's input ``x`` (every generated model has one)."""
    sig = re.search(r"model Gen[^(]*\(x: \[([^\]]*)\]", text)
    assert sig, "a generated model has an input x"
    return [a.strip() for a in sig.group(1).split(",") if a.strip() not in ("batch", "seq")]


def _insert_before_return(text: str, lines: list[str]) -> tuple[str, int]:
    """``text`` with ``lines`` before the model's last ``return``; the 1-based line of the first one."""
    rows = text.split("\n")
    at = max(i for i, row in enumerate(rows) if row.startswith("    return "))
    return "\n".join(rows[:at] + lines + rows[at:]), at + 1


def _dead(rng: random.Random, base: str, seed: int) -> Mistake:
    f = rng.choice(_inputs_fixed(base))
    learned = rng.random() < 0.4
    expr = f"linear[{f} -> {f}](x)" if learned else rng.choice(ncd_gen.UNARY).format("x")
    name = rng.choice(["g", "h2", "dead", "tmp"])
    text, line = _insert_before_return(base, [f"    {name} = {expr}"])
    return Mistake(seed, text, "dead", line, ("W002",) if learned else ("W001",))


def _duplicate(rng: random.Random, base: str, seed: int) -> Mistake:
    f = rng.choice(_inputs_fixed(base))
    label = rng.choice(["twin", "enc.layer.0", "blocks", "proj"])
    variant = rng.choice(["boxes", "circuit", "repeat", "chain"])
    if variant == "boxes":
        lines = [f"    t1 = linear[{f} -> {f}](x) as {label}", f"    x = x + t1 + linear[{f} -> {f}](t1) as {label}"]
        line_offset = 1
    elif variant == "circuit":
        lines = [f"    t1 = Twin[{f}](x) as {label}", f"    x = x + t1 + layernorm[{f}](t1) as {label}"]
        line_offset = 1
    elif variant == "repeat":
        lines = [
            "    repeat 2 as rep {",
            f"        x = relu(linear[{f} -> {f}](x) as {label})",
            f"        x = x + linear[{f} -> {f}](x) as {label}",
            "    }",
        ]
        line_offset = 2
    else:
        lines = [f"    x = x -> linear[{f} -> {f}] as {label} -> relu -> linear[{f} -> {f}] as {label}"]
        line_offset = 0
    text, line = _insert_before_return(base, lines)
    if variant == "circuit":
        twin = "circuit Twin[d](x: [d]) -> [d] { return relu(linear[d -> d](x)) }\n"
        text = text.replace("\nmodel Gen", "\n" + twin + "model Gen", 1)
        line += 1
    return Mistake(seed, text, f"duplicate-{variant}", line + line_offset, ("E163",))


_INNER = ["(2*a)", "(a*2)", "(a+1)", "(1+a)", "(2*a+1)", "(a-1)", "(a//2)", "(3*a)"]
_OUTER = ["(c+1)", "(2*c)", "(c*2)", "(c-1)", "c", "(c+2)", "(2*c+1)"]
_USER = ["(2*c+1)", "(2*c+2)", "(2*c)", "(4*c)", "(c+2)", "(2*(c+1))", "(c*2+1)", "(c+1+1)"]


def _derived(rng: random.Random, seed: int) -> Mistake:
    inner, outer, user = rng.choice(_INNER), rng.choice(_OUTER), rng.choice(_USER)
    c = rng.randint(3, 6)
    call = f"Widen[a={outer}](h)" if rng.random() < 0.5 else f"Widen[{outer}](h)"
    wide = _name(inner.replace("a", f"({outer.strip('()')})" if outer != "c" else "c"))
    whole = rng.random() < 0.5
    theirs = f"[batch, {wide}]" if whole else "[batch]"
    lines = [
        "axis batch",
        f"axis c = {c}",
        f"circuit Widen[a](x: [a]) -> [{inner}] {{ return linear[a -> {inner}](x) }}",
        f"model Gen(x: [batch, c]) -> (mine: [batch, {user}], theirs: {theirs}) {{",
        f"    h = linear[c -> {outer}](x)" if outer != "c" else "    h = x",
        f"    w = {call}",
        f"    u = linear[c -> {user}](x)",
        "    return relu(u), w" if whole else f"    return relu(u), sum[{wide}](w)",
        "}",
    ]
    return Mistake(seed, "\n".join(lines) + "\n", "derived", 6, ())


def _name(expr: str) -> str:
    """A parenthesised axis expression as written (the checker decides what it names)."""
    return expr if expr.startswith("(") else f"({expr})"


def mistake(seed: int) -> Mistake:
    """The mistake program of ``seed``."""
    rng = random.Random(seed * 7919 + 1)
    kind = KINDS[seed % len(KINDS)]
    if kind == "derived":
        return _derived(rng, seed)
    base = ncd_gen.program(seed).text
    return _dead(rng, base, seed) if kind == "dead" else _duplicate(rng, base, seed)


def expression_sizes_hold(graph: object) -> list[str]:
    """Every axis of ``graph`` named by a size expression whose size is not that expression's value."""
    axes = graph.graph["axes"]  # type: ignore[attr-defined]
    fixed = {name: a.fixed for name, a in axes.items() if a.fixed is not None}
    wrong = []
    for name, a in axes.items():
        if a.fixed is None or not re.search(r"[-+*/()]", name):
            continue
        value = _evaluate(name, fixed)
        if value is not None and value != a.fixed:
            wrong.append(f"axis {name!r} has size {a.fixed}, but {name} = {value}")
    return wrong


def _evaluate(expr: str, sizes: dict[str, int]) -> int | None:
    """The integer value of a size expression over ``sizes`` (None when it names an unknown axis)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST) -> int | None:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return sizes.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = ev(node.operand)
            return None if v is None else -v
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.FloorDiv) and right:
                return left // right
            if isinstance(node.op, ast.Div) and right and left % right == 0:
                return left // right
        return None

    return ev(tree)


def judge(seed: int) -> tuple[str, str, list[str]]:
    """Check the mistake program of ``seed``: ("caught" | "rejected", detail, [kind]); raise on silence."""
    return verdict(mistake(seed))


def verdict(m: Mistake) -> tuple[str, str, list[str]]:
    """Check ``m``: ("caught" | "rejected", detail, [kind]); raise ``campaign.Finding`` on silence."""
    import campaign

    import ncdl

    try:
        program = ncdl.loads(m.text, "gen.ncd")
    except ncdl.NcdlError as err:
        found = [d for d in err.diagnostics if d.code in m.expected and d.span and d.span.line == m.line]
        if found or m.kind == "derived":
            return "caught", f"{err.diagnostics[0].code}", [m.kind]
        return "rejected", f"{err.diagnostics[0].code} {err.diagnostics[0].message}\n\n{err}", [m.kind]
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        raise campaign._internal("check", exc) from exc
    if m.kind == "derived":
        try:
            wrong = expression_sizes_hold(program.graph())
        except Exception as exc:  # noqa: BLE001
            raise campaign._internal("graph", exc) from exc
        if wrong:
            raise campaign.Finding("silent", f"derived: accepted with wrong sizes: {'; '.join(wrong)}")
        return "caught", "accepted, every expression-named axis has its size", [m.kind]
    warned = [w for w in program.warnings if w.code in m.expected and w.span and w.span.line == m.line]
    if not warned:
        got = ", ".join(f"{w.code}@{w.span.line if w.span else '?'}" for w in program.warnings) or "none"
        raise campaign.Finding(
            "silent", f"{m.kind}: accepted without {'/'.join(m.expected)} at line {m.line} (warnings: {got})"
        )
    return "caught", warned[0].code, [m.kind]

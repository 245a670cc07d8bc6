"""Hypothesis strategies and oracles for robustness testing of ncdl.

Shared by the property tests in this folder and by ``tools/fuzz.py``:

* :func:`valid_programs` builds programs that type-check by construction
  from the language's constructs (axes, primitive chains, circuits, repeat);
* :func:`mutated_architectures` applies token-level mutations to the
  bundled ``.ncd`` files;
* :func:`grammar_text` expands ``grammar.lark`` at random (mostly invalid);
* :func:`check_outcome` runs the checker and says whether the outcome is
  acceptable (a Program, or an NcdlError whose diagnostics are all located);
* :func:`assert_parity` compiles a Program to torch and ONNX and compares.
"""

from __future__ import annotations

import functools
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import ncdl
from ncdl.dsl.imports import LIBRARY

ARCHITECTURES = sorted(LIBRARY.glob("*.ncd"))


# ---- deadlines ------------------------------------------------------------------


class Hang(Exception):
    """Raised inside a run that exceeded its deadline."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the body with :class:`Hang` after ``seconds`` (main thread, POSIX)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- the oracle for arbitrary text ---------------------------------------------


def _file_lines(name: str, root: str, text: str) -> list[str] | None:
    """The lines of the file a diagnostic names (None when it cannot be found)."""
    if name == root:
        return text.splitlines()
    if name.startswith("<ncdl>/"):
        path = LIBRARY / name.removeprefix("<ncdl>/")
    else:
        path = Path(name)
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None


def diagnostic_problems(err: ncdl.NcdlError, root: str, text: str) -> list[str]:
    """Everything wrong with an error's diagnostics: unlocated, or outside the file."""
    problems = []
    if not err.diagnostics:
        problems.append("NcdlError without diagnostics")
    for d in err.diagnostics:
        s = d.span
        if s is None:
            problems.append(f"{d.code} has no span: {d.message}")
            continue
        if not s.file or s.line < 1 or s.col < 1:
            problems.append(f"{d.code} has a bad span {s}: {d.message}")
            continue
        lines = _file_lines(s.file, root, text)
        if lines is None:
            problems.append(f"{d.code} names an unknown file {s.file!r}")
        elif s.line > max(1, len(lines) + 1):
            problems.append(f"{d.code} points at line {s.line} of {s.file}, which has {len(lines)} lines")
    return problems


def check_outcome(text: str, path: str, seconds: float = 5.0) -> ncdl.Program | None:
    """Check ``text`` as if it were the file ``path``.

    Returns the Program, or None for an acceptable NcdlError. Raises
    AssertionError for a badly located diagnostic, :class:`Hang` after
    ``seconds``, and lets every other exception through (each one a bug).
    """
    try:
        with deadline(seconds):
            return ncdl.loads(text, path)
    except ncdl.NcdlError as err:
        problems = diagnostic_problems(err, path, text)
        assert not problems, "\n".join(problems)
        return None


def exercise(program: ncdl.Program) -> None:
    """Every backend that allocates no tensors: the report, IR JSON round trip, diagram source, stats."""
    import json

    from ncdl import ir
    from ncdl.report import describe_model

    for model in program.models:
        g = program.graph(model)
        describe_model(g)
        ir.verify(ir.from_json(json.loads(ir.dumps(g))))
        assert program.render(model).source
        program.stats(model)


# ---- torch vs ONNX -------------------------------------------------------------


def feeds(program: ncdl.Program, model: str | None = None, seed: int = 0, free: int = 3) -> dict[str, Any]:
    """Random inputs for every model input; each free axis gets size ``free``."""
    import numpy as np

    g = program.graph(model)
    rng = np.random.default_rng(seed)
    sizes = {root: min(free, g.graph["axes"][root].bound or free) for root in g.graph["bindings"]}
    out = {}
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = []
        for a in data["axes"]:
            axis = g.graph["axes"][a]
            shape.append(axis.fixed if axis.fixed is not None else int(axis.size.evaluate(sizes)))
        if data["dtype"] == "int64":
            of = g.graph["axes"][data["attrs"]["of"]]
            high = of.fixed or int(of.size.evaluate(sizes)) if of.size.symbols() <= set(sizes) else free
            out[data["attrs"]["name"]] = rng.integers(0, max(1, high), size=shape).astype(np.int64)
        else:
            out[data["attrs"]["name"]] = rng.standard_normal(shape).astype(np.float32)
    return out


def small_enough(program: ncdl.Program, model: str | None = None, free: int = 8) -> bool:
    """True when ``model`` has under 3 million parameters and activations (free axes at ``free``)."""
    from math import prod

    g = program.graph(model)
    params = sum(prod(p["shape"]) for _, d in g.nodes(data=True) for p in d.get("params") or [] if not p.get("tied_to"))
    sizes = {root: free for root in g.graph["bindings"]}
    try:
        biggest = max(
            prod(max(1, g.graph["axes"][a].size.evaluate(sizes)) for a in d["axes"]) for _, d in g.nodes(data=True)
        )
    except (KeyError, ZeroDivisionError):
        return False
    return params < 3_000_000 and biggest < 3_000_000


def assert_parity(
    program: ncdl.Program, model: str | None = None, tol: float = 1e-4, free: int = 3, opset: int | None = None
) -> None:
    """The torch module (eval mode) and onnxruntime agree on random inputs.

    Within ``tol`` (absolute and relative), widened by how far torch's own
    output moves when the float inputs move by one part in a million: a
    generated program may be ill-conditioned (a sum that cancels to rounding
    noise, then a norm that magnifies it), and two correct fp32 backends
    then differ by about that much.
    """
    import numpy as np
    import torch

    from ncdl.runtime import Session

    module = program.to_torch(model)
    module.eval()
    onnx_model = program.to_onnx(model, state_dict=module.state_dict(), **({"opset": opset} if opset else {}))
    session = Session(onnx_model)
    inputs = feeds(program, model, free=free)
    assert list(inputs) == session.input_names
    rng = np.random.default_rng(1)
    nudged = {
        k: v * (1 + 1e-6 * rng.standard_normal(v.shape)).astype(v.dtype) if v.dtype == np.float32 else v
        for k, v in inputs.items()
    }
    with torch.no_grad():
        expected = module(*(torch.from_numpy(v) for v in inputs.values()))
        moved = module(*(torch.from_numpy(v) for v in nudged.values()))
    expected = expected if isinstance(expected, tuple) else (expected,)
    moved = moved if isinstance(moved, tuple) else (moved,)
    got = session.run(inputs)
    for name, want, other in zip(got, expected, moved, strict=True):
        want, other = want.numpy(), other.numpy()
        finite = np.isfinite(want) & np.isfinite(other)
        noise = float(np.abs(want - other)[finite].max(initial=0.0))
        np.testing.assert_allclose(got[name], want, atol=tol + 10 * noise, rtol=tol, err_msg=name)


# ---- valid programs by construction ------------------------------------------

HEADER_CIRCUITS = """
circuit Blk[d](x: [d]) -> [d] { return x + linear[d -> d](gelu(layernorm[d](x))) }
circuit Gate[d](x: [d], y: [d]) -> [d] { return x * sigmoid(y) }
circuit Proj[d, e](x: [d]) -> [e] { return linear[d -> e](x) }
"""


@dataclass
class _State:
    sizes: dict[str, int | None]  # every axis in play; None for free ones
    axes: list[str]  # the current value's axes (order irrelevant: sets matter)
    values: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    fresh: int = 0

    @property
    def current(self) -> str:
        return self.values[-1][0]

    def fixed(self) -> list[str]:
        return [a for a in self.axes if self.sizes[a] is not None]

    def new_name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def emit(self, expr: str, axes: list[str]) -> None:
        name = self.new_name("v")
        self.lines.append(f"    {name} = {expr}")
        self.axes = list(axes)
        self.values.append((name, frozenset(axes)))


POOL = ["p", "q", "m", "a", "b", "c"]
MAX_AXES = 4


def _op_unary(draw: Callable, s: _State) -> bool:
    h = s.current
    expr = draw(
        st.sampled_from(
            [
                f"relu({h})",
                f"gelu({h})",
                f'gelu({h}, approximate="tanh")',
                f"silu({h})",
                f"tanh({h})",
                f"sigmoid({h})",
                f"abs({h})",
                f"-{h}",
                f"sqrt(abs({h}) + 1.0)",
                f"log(abs({h}) + 1.0)",
                f"exp(tanh({h}))",
                f"{h} * 0.5",
                f"1.5 - {h}",
                f"{h} / 2.0",
                f"{h} * {h}",
                f"{h} ** 2",
                f"dropout({h}, p=0.25)",
                f"{h} -> relu -> tanh",
            ]
        )
    )
    s.emit(expr, s.axes)
    return True


def _op_size_number(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    a = draw(st.sampled_from(fixed))
    s.emit(f"{s.current} / sqrt({a})", s.axes)
    return True


def _op_linear(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    src = draw(st.lists(st.sampled_from(fixed), min_size=1, max_size=min(2, len(fixed)), unique=True))
    rest = [a for a in s.axes if a not in src]
    choices = [a for a in POOL if a not in rest] + src
    dst = draw(st.lists(st.sampled_from(sorted(set(choices))), min_size=1, max_size=2, unique=True))
    if len(rest) + len(dst) > MAX_AXES:
        return False
    bias = draw(st.sampled_from(["", ", bias=false", ", bias=true"]))
    s.emit(f"linear[{' '.join(src)} -> {' '.join(dst)}]({s.current}{bias})", rest + dst)
    return True


def _op_norm(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    kind = draw(st.sampled_from(["layernorm", "rmsnorm", "batchnorm"]))
    if kind == "batchnorm":
        over = [draw(st.sampled_from(fixed))]
        opts = ""
    else:
        over = draw(st.lists(st.sampled_from(fixed), min_size=1, max_size=2, unique=True))
        opts = draw(st.sampled_from(["", ", affine=false", ", eps=0.001"] + ([", bias=false"] * (kind == "layernorm"))))
    s.emit(f"{kind}[{' '.join(over)}]({s.current}{opts})", s.axes)
    return True


def _op_softmax(draw: Callable, s: _State) -> bool:
    kind = draw(st.sampled_from(["softmax", "logsoftmax"]))
    a = draw(st.sampled_from(s.axes))
    s.emit(f"{kind}[{a}]({s.current})", s.axes)
    return True


def _op_reduce(draw: Callable, s: _State) -> bool:
    choices = [a for a in s.axes if a != "batch"]
    if len(s.axes) <= 2 or not choices:
        return False
    a = draw(st.sampled_from(choices))
    kind = draw(st.sampled_from(["sum", "mean", "max"]))
    s.emit(f"{kind}[{a}]({s.current})", [x for x in s.axes if x != a])
    return True


def _op_rename(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    a = draw(st.sampled_from(fixed))
    new = s.new_name("r")
    s.sizes[new] = s.sizes[a]
    s.emit(f"rename[{a} -> {new}]({s.current})", [new if x == a else x for x in s.axes])
    return True


def _op_split_merge(draw: Callable, s: _State) -> bool:
    if "m" in s.axes and "p" not in s.axes and "q" not in s.axes and len(s.axes) < MAX_AXES:
        s.emit(f"split[m -> p q]({s.current})", [x for x in s.axes if x != "m"] + ["p", "q"])
        return True
    if "p" in s.axes and "q" in s.axes:
        into = "m" if "m" not in s.axes else s.new_name("g")
        s.sizes[into] = s.sizes["m"]
        s.emit(f"merge[p q -> {into}]({s.current})", [x for x in s.axes if x not in ("p", "q")] + [into])
        return True
    return False


def _op_contract(draw: Callable, s: _State) -> bool:
    here = set(s.axes)
    options = []
    for name, axes in s.values:
        for f in sorted(here & axes):
            if s.sizes[f] is not None and len((here | axes) - {f}) <= MAX_AXES:
                options.append((name, f, sorted((here | axes) - {f})))
    if not options:
        return False
    other, f, out = draw(st.sampled_from(options))
    s.emit(f"contract[{f}]({s.current}, {other})", out)
    return True


def _op_residual(draw: Callable, s: _State) -> bool:
    here = set(s.axes)
    options = [(n, a) for n, a in s.values if a <= here or here <= a]
    name, axes = draw(st.sampled_from(options))
    op = draw(st.sampled_from(["+", "-", "*"]))
    out = s.axes if axes <= here else sorted(axes)
    s.emit(f"{s.current} {op} {name}", out)
    return True


def _op_param(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    over = [draw(st.sampled_from(fixed))]
    if "seq" in s.axes and draw(st.booleans()):
        over = ["seq"] + over
    init = draw(st.sampled_from(["", "init=zeros", "init=ones", "init=normal(0.02)", "init=uniform(-0.1, 0.1)"]))
    s.emit(f"{s.current} + param[{', '.join(over)}]({init})", s.axes)
    return True


def _op_circuit(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if not fixed:
        return False
    a = draw(st.sampled_from(fixed))
    h = s.current
    kind = draw(st.sampled_from(["blk", "blk_pos", "chain", "gate", "proj", "repeat", "repeat_index"]))
    if kind == "blk":
        s.emit(f"Blk[d={a}]({h})", s.axes)
    elif kind == "blk_pos":
        s.emit(f"Blk[{a}]({h}) as blk_{s.fresh}", s.axes)
    elif kind == "chain":
        s.emit(f"{h} -> Blk[d={a}] -> relu", s.axes)
    elif kind == "gate":
        others = [n for n, axes in s.values if a in axes and axes <= set(s.axes)]
        s.emit(f"Gate[d={a}]({h}, {draw(st.sampled_from(others))})", s.axes)
    elif kind == "proj":
        targets = [t for t in POOL if t not in s.axes] + [a]
        e = draw(st.sampled_from(targets))
        s.emit(f"Proj[d={a}, e={e}]({h})", [x for x in s.axes if x != a] + [e])
    else:
        count = draw(st.integers(1, 3))
        name = s.new_name("v")
        s.lines.append(f"    {name} = {h}")
        if kind == "repeat":
            s.lines.append(f"    repeat {count} as layers{s.fresh} {{ {name} = Blk[d={a}]({name}) }}")
        else:
            s.lines.append(
                f"    repeat i in {count} {{ if i == 0 {{ {name} = Blk[d={a}]({name}) }} "
                f"else {{ {name} = {name} + tanh(linear[{a} -> {a}]({name})) }} }}"
            )
        s.values.append((name, frozenset(s.axes)))
    return True


def _op_attention(draw: Callable, s: _State) -> bool:
    fixed = s.fixed()
    if "seq" not in s.axes or "key" in s.axes or not fixed:
        return False
    f = draw(st.sampled_from(fixed))
    h = s.current
    k, sc = s.new_name("k"), s.new_name("s")
    s.lines.append(f"    {k} = rename[seq -> key]({h})")
    s.lines.append(f"    {sc} = contract[{f}]({h}, {k}) / sqrt({f})")
    s.emit(f"contract[key](softmax[key](causal[seq, key]({sc})), {k})", s.axes)
    return True


OPS = [
    _op_unary,
    _op_size_number,
    _op_linear,
    _op_norm,
    _op_softmax,
    _op_reduce,
    _op_rename,
    _op_split_merge,
    _op_contract,
    _op_residual,
    _op_param,
    _op_circuit,
    _op_attention,
]


@st.composite
def valid_programs(draw: Callable, max_ops: int = 8) -> str:
    """A program that checks by construction: one model over random axes."""
    p, q = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    sizes: dict[str, int | None] = {"batch": None, "seq": None, "key": None}
    sizes.update(p=p, q=q, m=p * q, a=a, b=b, c=2 * a)
    head = [
        "axis batch",
        f"axis seq <= {draw(st.integers(3, 8))}, key ~ seq",
        f"axis p = {p}, q = {q}, m = p * q",
        f"axis a = {a}, b = {b}, c = 2 * a",
    ]
    inputs = ["batch"] + (["seq"] * draw(st.booleans()))
    inputs += draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True))
    s = _State(sizes, inputs)
    s.values.append(("x", frozenset(inputs)))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(OPS))
        op(draw, s)
    result = draw(st.permutations(s.axes))
    body = "\n".join(s.lines + [f"    return {s.current}"])
    return (
        "\n".join(head)
        + "\n"
        + HEADER_CIRCUITS
        + f"\nmodel Gen(x: [{', '.join(inputs)}]) -> [{', '.join(result)}] {{\n{body}\n}}\n"
    )


# ---- token-level mutations ----------------------------------------------------

_TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|->|<=|>=|==|!=|//|\*\*|\s+|.', re.S)

VOCABULARY = [
    *"()[]{},:;=+-*/<>~",
    "->",
    "<=",
    "//",
    "**",
    "axis",
    "circuit",
    "model",
    "use",
    "repeat",
    "if",
    "else",
    "return",
    "as",
    "in",
    "int",
    "of",
    "and",
    "or",
    "not",
    "true",
    "false",
    "linear",
    "contract",
    "embed",
    "param",
    "softmax",
    "layernorm",
    "conv",
    "split",
    "merge",
    "concat",
    "rename",
    "sum",
    "tie",
    "x",
    "batch",
    "seq",
    "model",
    "heads",
    "0",
    "1",
    "2",
    "-1",
    "7",
    "1000000",
    "99999999999999999999",
    "2147483647",
    "1e309",
    "0.5",
    '"attention.ncd"',
    '"../../etc/passwd"',
    '"/etc/passwd"',
    '"nothing.ncd"',
    '"gpt.ncd"',
    '"' + "a" * 300 + '.ncd"',
    '"' + "a/" * 2000 + '"',
    '"."',
    '""',
    "x" * 5000,
    "class",
    "lambda",
    "training",
    "forward",
    "self",
    "torch",
    "output",
    "__init__",
    "weight",
    "\n",
    "#",
    "\t",
    "é",
    "\x00",
]


NUMBERS = ["0", "1", "2", "3", "5", "7", "13", "64", "1023", "65536", "2147483647", "2147483648", "10" * 9]


def tokens(text: str) -> list[str]:
    """Split source into tokens, keeping white space and comments as tokens."""
    return _TOKEN.findall(text)


@functools.cache
def _architecture_tokens() -> list[list[str]]:
    return [tokens(p.read_text(encoding="utf-8")) for p in ARCHITECTURES]


@st.composite
def mutations(draw: Callable, text: str, max_mutations: int = 4) -> str:
    """``text`` after 1 to ``max_mutations`` token-level edits."""
    toks = tokens(text)
    for _ in range(draw(st.integers(1, max_mutations))):
        if not toks:
            toks = [draw(st.sampled_from(VOCABULARY))]
        i = draw(st.integers(0, len(toks) - 1))
        kind = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "replace", "insert_token", "insert_chars", "number", "splice"]
            )
        )
        numbers = [k for k, t in enumerate(toks) if t[:1].isdigit()]
        if kind == "number" and numbers:
            toks[draw(st.sampled_from(numbers))] = draw(st.sampled_from(NUMBERS))
        elif kind == "splice":  # a run of tokens from another bundled file
            donor = _architecture_tokens()[draw(st.integers(0, len(ARCHITECTURES) - 1))]
            start = draw(st.integers(0, len(donor) - 1))
            toks[i:i] = donor[start : start + draw(st.integers(1, 30))]
        elif kind == "delete":
            del toks[i : i + draw(st.integers(1, 3))]
        elif kind == "duplicate":
            toks[i:i] = toks[i : i + draw(st.integers(1, 8))]
        elif kind == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        elif kind == "replace":
            toks[i] = draw(st.sampled_from(VOCABULARY))
        elif kind == "insert_token":
            toks.insert(i, draw(st.sampled_from(VOCABULARY)))
        else:
            toks.insert(i, draw(st.text(min_size=1, max_size=4)))
    return "".join(toks)


@st.composite
def mutated_architectures(draw: Callable) -> tuple[str, str]:
    """(path, mutated text) of a bundled architecture, checked with the file's own path."""
    path = draw(st.sampled_from(ARCHITECTURES))
    return str(path), draw(mutations(path.read_text(encoding="utf-8")))


# ---- random text from the grammar ----------------------------------------------

_TERMINAL_SAMPLES = {
    "NAME": ["x", "y", "batch", "seq", "model", "n", "d", "relu", "linear", "F", "M", "heads"],
    "INT": ["0", "1", "2", "4", "64", "10001", "2147483648"],
    "NUMBER": ["0.5", "1e-5", "3", "1e400"],
    "STRING": ['"attention.ncd"', '"tanh"', '"same"', '"x.ncd"', '""'],
    "CMP": ["==", "<", ">=", "!="],
}


@functools.cache
def _grammar() -> tuple[dict[str, list[tuple[str, ...]]], dict[str, str], dict[str, int]]:
    from ncdl.dsl.parse import _tables

    tables = _tables()
    rules: dict[str, list[tuple[str, ...]]] = {}
    for rule in tables.rules:
        rules.setdefault(rule.origin.name, []).append(tuple(sym.name for sym in rule.expansion))
    literals = dict(tables.literal_names)
    # cost of the cheapest full expansion of each rule, for bounded generation
    cost: dict[str, int] = {}
    for _ in range(len(rules) + 1):
        for name, expansions in rules.items():
            best = min(
                (sum(cost.get(sym, 10**9) if sym in rules else 1 for sym in exp) for exp in expansions),
                default=10**9,
            )
            cost[name] = min(cost.get(name, 10**9), best)
    return rules, literals, cost


@st.composite
def grammar_text(draw: Callable, budget: int = 60) -> str:
    """A random derivation of the grammar's start rule, as text (``budget`` bounds its size)."""
    rules, literals, cost = _grammar()
    out: list[str] = []
    stack: list[str] = ["start"]
    spent = 0
    while stack:
        sym = stack.pop()
        if sym in rules:
            expansions = rules[sym]
            if spent > budget:
                expansions = [min(expansions, key=lambda e: sum(cost.get(s, 1) for s in e))]
            exp = draw(st.sampled_from(expansions))
            spent += 1
            stack.extend(reversed(exp))
        elif sym in _TERMINAL_SAMPLES:
            out.append(draw(st.sampled_from(_TERMINAL_SAMPLES[sym])))
        else:
            out.append(literals.get(sym, sym))
    return " ".join(out)


# ---- settings ----------------------------------------------------------------

#: ``ncdl-ci`` (the default: deterministic, small) or ``ncdl-deep`` (more examples,
#: random); choose with the environment variable ``NCDL_ROBUSTNESS_PROFILE``.
settings.register_profile(
    "ncdl-ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile("ncdl-deep", settings.get_profile("ncdl-ci"), derandomize=False, max_examples=500)
PROFILE = settings.get_profile(os.environ.get("NCDL_ROBUSTNESS_PROFILE", "ncdl-ci"))


def examples(n: int) -> settings:
    """The active profile with ``n`` examples (scaled up in the deep profile)."""
    scale = max(1, PROFILE.max_examples // 20)
    return settings(PROFILE, max_examples=n * scale)

"""A seeded generator of valid ncdl programs that combine the language's features.

``program(seed)`` returns a :class:`Generated`: the source text of one file
(one model, a few circuits of its own, sometimes ``use`` of the bundled
library) and the sizes to run it at. The same seed always gives the same
text, so a campaign is reproducible from its seed range alone.

The generator tracks every value's axes and kind (float, integer, boolean)
and only writes what the language accepts: a program it makes should check,
compile to torch and ONNX, and agree between them. It covers the boxes of the
op registry (``ncdl/ir/ops.py``): learned maps, norms, attention with masks
and grouped queries, positions and integer arithmetic, comparisons and
``where``/``mask``, ``topk``/``gather``/``scatter``/``moe``, ``cumsum`` and
``scan``, ``slice``/``flip``/``roll``/``pad``, ``split``/``merge``/``concat``,
convolutions, pooling, upsampling; and the language around them: circuits
with axis, int, float and bool parameters, ``repeat``, several results and
library circuits.

:func:`mistake` makes the programs of the other mode: a valid program with
one injected mistake whose verdict is known (a dead value, a duplicate label,
a derived-axis name that collides with a user axis).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

OPSETS = (17, 20, 23)

HEADER = """\
circuit Blk[d, scale: float = 1.0, bias: bool = true](x: [d]) -> [d] {
    return x + linear[d -> d](gelu(layernorm[d](x, bias=bias)), bias=bias) * scale
}
circuit Deep[d, depth: int = 2](x: [d]) -> [d] {
    repeat i in depth as layers {
        if i == 0 { x = Blk[d](x) } else { x = Blk[d, scale=0.5, bias=false](x) }
    }
    return x
}
circuit Pair[d](x: [d]) -> (lo: [d], hi: [d]) {
    return min(x, 0.0), relu(linear[d -> d](x))
}
circuit Gate[d](x: [d], y: [d], extra: [d]?) -> [d] {
    g = x * sigmoid(y)
    if extra { g = g + extra }
    return g
}
circuit Experts[d, e, f](x: [d]) -> [e, d] {
    h = relu(contract[d](x, param[e, f, d](init=normal(0.1)) as up))
    return contract[f](h, param[e, d, f](init=normal(0.1)) as down)
}
"""

UNARY = [
    "relu({})",
    "gelu({})",
    'gelu({}, approximate="tanh")',
    "silu({})",
    "tanh({})",
    "sigmoid({})",
    "abs({})",
    "-{}",
    "sin({})",
    "cos({})",
    "softplus({})",
    "hardswish({})",
    "hardsigmoid({})",
    "relu6({})",
    "sqrt(abs({}) + 1.0)",
    "log(abs({}) + 1.0)",
    "exp(tanh({}))",
    "clamp({}, min=-1, max=1)",
    "clamp({}, min=0.5)",
    "min({}, 0.25)",
    "max({}, -0.5)",
    "{} * 0.5",
    "1.5 - {}",
    "{} / 2.0",
    "{} ** 2",
    "dropout({}, p=0.25)",
    "{} -> relu -> tanh",
    "where({0} > 0.1, {0}, {0} * 0.5)",
    "float(int({} * 4 + 0.37)) / 4",  # off the integers: exact cancellations land there
]


def _circuits(text: str) -> list[str]:
    """The circuit definitions of ``text``, one string each."""
    return ["circuit " + part for part in text.split("circuit ")[1:]]


@dataclass
class Val:
    """A value in scope: its name and axes (a set: order is the compiler's)."""

    name: str
    axes: tuple[str, ...]


@dataclass
class Generated:
    """One generated program: its text, the sizes of its free axes for two runs, its opset."""

    seed: int
    text: str
    runs: list[dict[str, int]]
    opset: int
    features: list[str] = field(default_factory=list)
    hierarchy: str = "instances"


class _Gen:
    """The state of one program under construction."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        r = self.rng
        self.a, self.b = r.randint(1, 4), r.randint(2, 5)
        self.p, self.q = r.randint(1, 3), r.randint(2, 3)
        self.bound = r.randint(4, 7)
        self.free_y = r.random() < 0.5
        self.ysize = r.randint(6, 9)
        self.xsize = r.randint(5, 8)
        self.sizes: dict[str, int | None] = {
            "batch": None,
            "seq": None,
            "key": None,
            "a": self.a,
            "b": self.b,
            "c": 2 * self.a,
            "p": self.p,
            "q": self.q,
            "m": self.p * self.q,
            "two": 2,
            "kv": 2,
            "grp": 2,
            "hd": 4,
            "ex": 3,
            "ch": 2,
            "ff": 3,
            "y": None if self.free_y else self.ysize,
            "x": self.xsize,
        }
        self.dyn = {"y": [self.ysize] * 2 if not self.free_y else [9, 12], "x": [self.xsize] * 2}
        self.lines: list[str] = []
        self.fresh = 0
        self.values: list[Val] = []
        self.features: list[str] = []
        self.labels = 0
        self.use = False

    # ---- helpers ------------------------------------------------------------

    def new(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def emit(self, expr: str, axes: list[str] | tuple[str, ...], feature: str) -> Val:
        name = self.new("v")
        self.lines.append(f"    {name} = {expr}")
        val = Val(name, tuple(axes))
        self.values.append(val)
        self.features.append(feature)
        return val

    def fixed(self, v: Val, exclude: tuple[str, ...] = ()) -> list[str]:
        return [a for a in v.axes if self.sizes[a] is not None and a not in exclude]

    def pick(self, seq: list[str]) -> str:
        return self.rng.choice(seq)

    def size(self, axis: str, run: dict[str, int]) -> int:
        s = self.sizes[axis]
        return run[axis] if s is None else s


def _fresh_axis(g: _Gen, like: str) -> str:
    name = g.new("r")
    g.sizes[name] = g.sizes[like]
    return name


POOL = ["a", "b", "c", "p", "q", "m"]
MAX_AXES = 4


# ---- operations on the sequence branch -------------------------------------------
# Each takes the generator and the current value and returns the new value or None.


def op_unary(g: _Gen, v: Val) -> Val | None:
    return g.emit(g.pick(UNARY).format(v.name), v.axes, "unary")


def op_linear(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if not fixed:
        return None
    src = g.rng.sample(fixed, min(len(fixed), g.rng.randint(1, 2)))
    rest = [a for a in v.axes if a not in src]
    choices = sorted(set([a for a in POOL if a not in rest] + src))
    dst = g.rng.sample(choices, min(len(choices), g.rng.randint(1, 2)))
    if len(rest) + len(dst) > MAX_AXES:
        return None
    bias = g.pick(["", ", bias=false", ", bias=true"])
    return g.emit(f"linear[{' '.join(src)} -> {' '.join(dst)}]({v.name}{bias})", rest + dst, "linear")


def op_norm(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if not fixed:
        return None
    kind = g.pick(["layernorm", "rmsnorm", "batchnorm", "groupnorm", "layernorm_free"])
    if kind == "batchnorm":
        if "batch" not in v.axes:
            return None
        return g.emit(f"batchnorm[{g.pick(fixed)}]({v.name})", v.axes, "batchnorm")
    if kind == "groupnorm":
        if "c" not in v.axes or "batch" not in v.axes:
            return None
        others = [a for a in v.axes if a not in ("c", "batch")]
        over = ["c"] + g.rng.sample(others, min(len(others), 1))
        groups = g.pick([k for k in (1, 2, g.a) if (2 * g.a) % k == 0])
        return g.emit(f"groupnorm[{', '.join(over)}]({v.name}, groups={groups})", v.axes, "groupnorm")
    if kind == "layernorm_free":
        free = [a for a in v.axes if g.sizes[a] is None and a != "batch"]
        if not free:
            return None
        return g.emit(f"layernorm[{g.pick(free)}]({v.name}, affine=false)", v.axes, "layernorm")
    over = g.rng.sample(fixed, min(len(fixed), g.rng.randint(1, 2)))
    opts = g.pick(["", ", affine=false", ", eps=0.001"] + [", bias=false"] * (kind == "layernorm"))
    return g.emit(f"{kind}[{' '.join(over)}]({v.name}{opts})", v.axes, kind)


def op_softmax(g: _Gen, v: Val) -> Val | None:
    kind = g.pick(["softmax", "logsoftmax"])
    return g.emit(f"{kind}[{g.pick(list(v.axes))}]({v.name})", v.axes, kind)


def op_reduce(g: _Gen, v: Val) -> Val | None:
    choices = [a for a in v.axes if a != "batch"]
    if len(v.axes) <= 2 or not choices:
        return None
    a = g.pick(choices)
    kind = g.pick(["sum", "mean", "max", "min", "select"])
    rest = [x for x in v.axes if x != a]
    if kind == "select":
        if g.sizes[a] is None:
            return None
        return g.emit(f"select[{a}]({v.name}, index={g.rng.randint(0, g.sizes[a] - 1)})", rest, "select")
    return g.emit(f"{kind}[{a}]({v.name})", rest, kind)


def op_rename(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if not fixed:
        return None
    a = g.pick(fixed)
    new = _fresh_axis(g, a)
    return g.emit(f"rename[{a} -> {new}]({v.name})", [new if x == a else x for x in v.axes], "rename")


def op_split_merge(g: _Gen, v: Val) -> Val | None:
    if "m" in v.axes and "p" not in v.axes and "q" not in v.axes and len(v.axes) < MAX_AXES:
        return g.emit(f"split[m -> p q]({v.name})", [x for x in v.axes if x != "m"] + ["p", "q"], "split")
    if "p" in v.axes and "q" in v.axes:
        into = "m" if "m" not in v.axes else _fresh_axis(g, "m")
        return g.emit(f"merge[p q -> {into}]({v.name})", [x for x in v.axes if x not in ("p", "q")] + [into], "merge")
    if "c" in v.axes and "two" not in v.axes and "a" not in v.axes and len(v.axes) < MAX_AXES:
        return g.emit(f"split[c -> two a]({v.name})", [x for x in v.axes if x != "c"] + ["two", "a"], "split")
    return None


def op_contract(g: _Gen, v: Val) -> Val | None:
    here = set(v.axes)
    options = []
    for other in g.values:
        for f in sorted(here & set(other.axes)):
            out = sorted((here | set(other.axes)) - {f})
            if g.sizes[f] is not None and len(out) <= MAX_AXES:
                options.append((other, f, out))
    if not options:
        return None
    other, f, out = g.rng.choice(options)
    return g.emit(f"contract[{f}]({v.name}, {other.name})", out, "contract")


def op_residual(g: _Gen, v: Val) -> Val | None:
    here = set(v.axes)
    options = [o for o in g.values if set(o.axes) <= here or here <= set(o.axes)]
    if not options:
        return None
    o = g.rng.choice(options)
    out = v.axes if set(o.axes) <= here else o.axes
    op = g.pick(["+", "-", "*"])
    if g.rng.random() < 0.2:
        return g.emit(f"max({v.name}, {o.name})", out, "max2")
    return g.emit(f"{v.name} {op} {o.name}", out, "arith")


def op_param(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if not fixed:
        return None
    over = [g.pick(fixed)]
    if "seq" in v.axes and g.rng.random() < 0.5:
        over = ["seq"] + over
    init = g.pick(["", "init=zeros", "init=ones", "init=normal(0.02)", "init=uniform(-0.1, 0.1)", "init=constant(0.5)"])
    return g.emit(f"{v.name} * param[{', '.join(over)}]({init})", v.axes, "param")


def op_circuit(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if not fixed:
        return None
    a = g.pick(fixed)
    h = v.name
    kind = g.pick(["blk", "blk_opts", "deep", "pair", "gate", "chain", "repeat", "experts"])
    if kind == "blk":
        g.labels += 1
        return g.emit(f"Blk[d={a}]({h}) as unit{g.labels}", v.axes, "circuit")  # never an automatic name (blk_1)
    if kind == "blk_opts":
        scale = g.pick(["0.5", "2", "1e-3"])
        return g.emit(f"Blk[{a}, scale={scale}, bias={g.pick(['true', 'false'])}]({h})", v.axes, "circuit-float-bool")
    if kind == "deep":
        return g.emit(f"Deep[{a}, depth={g.rng.randint(1, 3)}]({h})", v.axes, "circuit-int-repeat")
    if kind == "pair":
        lo, hi = g.new("lo"), g.new("hi")
        g.lines.append(f"    {lo}, {hi} = Pair[d={a}]({h})")
        g.values.append(Val(lo, v.axes))
        return g.emit(f"{lo} + {hi}", v.axes, "several-results")
    if kind == "gate":
        others = [o.name for o in g.values if a in o.axes and set(o.axes) <= set(v.axes)]
        if not others:
            return None
        extra = f", extra={g.pick(others)}" if g.rng.random() < 0.5 else ""
        return g.emit(f"Gate[d={a}]({h}, {g.pick(others)}{extra})", v.axes, "optional-arg")
    if kind == "chain":
        return g.emit(f"{h} -> Blk[d={a}] -> relu", v.axes, "chain")
    if kind == "experts":
        if "ex" in v.axes or "ch" in v.axes or len(v.axes) >= MAX_AXES:
            return None
        w, top = g.new("w"), g.new("top")
        g.lines.append(f"    {w}, {top} = topk[ex -> ch](linear[{a} -> ex]({h}) + float(positions[ex]()) * 0.01, k=2)")
        gates = f"scatter[ch -> ex](softmax[ch]({w}), {top})"
        return g.emit(f"moe[ex]({gates}, Experts[d={a}, e=ex, f=ff]({h}))", v.axes, "moe")
    count = g.rng.randint(1, 3)
    name = g.new("v")
    g.lines.append(f"    {name} = {h}")
    label = g.new("layers")
    g.lines.append(f"    repeat {count} as {label} {{ {name} = {name} + tanh(linear[{a} -> {a}]({name})) }}")
    val = Val(name, v.axes)
    g.values.append(val)
    g.features.append("repeat")
    return val


def op_attention(g: _Gen, v: Val) -> Val | None:
    fixed = g.fixed(v)
    if "seq" not in v.axes or "key" in v.axes or not fixed:
        return None
    f = g.pick(fixed)
    h = v.name
    kind = g.pick(["plain", "window", "keep", "gqa", "library", "library_causal"])
    if kind == "gqa":
        if set(v.axes) & {"kv", "grp", "hd"}:
            return None
        q, k, w, s = g.new("q"), g.new("k"), g.new("val"), g.new("s")
        g.lines.append(f"    {q} = linear[{f} -> kv grp hd]({h}, bias=false)")
        g.lines.append(f"    {k} = rename[seq -> key](linear[{f} -> kv hd]({h}, bias=false))")
        g.lines.append(f"    {w} = rename[seq -> key](linear[{f} -> kv hd]({h}, bias=false))")
        g.lines.append(f"    {s} = causal[seq, key](contract[hd]({q}, {k}) / sqrt(hd))")
        out = f"linear[kv grp hd -> {f}](contract[key](softmax[key]({s}), {w}), bias=false)"
        return g.emit(out, v.axes, "attention-gqa")
    if kind.startswith("library"):
        if not g.use or "c" not in v.axes or "two" in v.axes:
            return None
        circuit = "CausalSelfAttention" if kind == "library_causal" else "SelfAttention"
        g.labels += 1
        return g.emit(f"{circuit}[seq, model=c, heads=two]({h}) as attn_{g.labels}", v.axes, "use-library")
    k, s = g.new("k"), g.new("s")
    g.lines.append(f"    {k} = rename[seq -> key]({h})")
    g.lines.append(f"    {s} = contract[{f}]({h}, {k}) / sqrt({f})")
    if kind == "plain":
        masked = f"causal[seq, key]({s})"
    elif kind == "window":
        masked = (
            f"mask[seq, key]({s}, positions[seq]() >= positions[key]() and positions[key]() > positions[seq]() - 2)"
        )
    else:
        if "batch" not in v.axes:
            return None
        masked = f"mask[key]({s}, keep or positions[key]() == 0)"
        g.features.append("bool-input")
    return g.emit(f"contract[key](softmax[key]({masked}), {k})", v.axes, f"attention-{kind}")


def op_positions(g: _Gen, v: Val) -> Val | None:
    a = g.pick(list(v.axes))
    kind = g.pick(["add", "sincos", "intarith", "compare"])
    if kind == "add":
        return g.emit(f"{v.name} + float(positions[{a}]()) * 0.1", v.axes, "positions")
    if kind == "sincos":
        fn = g.pick(["sin", "cos"])
        return g.emit(f"{v.name} * {fn}(float(positions[{a}]() * 2 + 1) * 0.3)", v.axes, "positions-sincos")
    if kind == "intarith":
        return g.emit(f"{v.name} + float(positions[{a}]() - positions[{a}]() * 3) / 8", v.axes, "int-arith")
    return g.emit(f"where(positions[{a}]() < 2, {v.name}, {v.name} * 0.5)", v.axes, "compare-where")


def op_mask(g: _Gen, v: Val) -> Val | None:
    # A threshold at 0 decides on rounding noise when a value cancels exactly (a norm of a
    # constant: campaign seed 6887), where two correct fp32 backends differ.
    a = g.pick(list(v.axes))
    return g.emit(f"mask[{a}]({v.name}, {v.name} > 0.37, value=0.5)", v.axes, "mask")


def op_topk(g: _Gen, v: Val) -> Val | None:
    fixed = [a for a in g.fixed(v) if (g.sizes[a] or 0) >= 2]
    if not fixed or "ch" in v.axes:
        return None
    a = g.pick(fixed)
    k = g.rng.randint(1, min(2, g.sizes[a]))
    ch = g.new("t")
    g.sizes[ch] = k
    w, top = g.new("w"), g.new("top")
    kind = g.pick(["scatter", "gather", "values"])
    ranked = f"{v.name} + float(positions[{a}]()) * 0.01"  # ties have no defined order
    g.lines.append(f"    {w}, {top} = topk[{a} -> {ch}]({ranked}, k={k})")
    if kind == "scatter":
        return g.emit(f"{v.name} + scatter[{ch} -> {a}](softmax[{ch}]({w}), {top})", v.axes, "topk-scatter")
    rest = [x for x in v.axes if x != a] + [ch]
    if kind == "gather":
        return g.emit(f"gather[{a}]({v.name}, {top}) * {w}", rest, "topk-gather")
    return g.emit(f"{w} + float(argtopk[{a} -> {ch}]({ranked}, k={k}))", rest, "argtopk")


def op_scan(g: _Gen, v: Val) -> Val | None:
    a = g.pick(list(v.axes))
    if g.rng.random() < 0.5:
        return g.emit(f"cumsum[{a}]({v.name})", v.axes, "cumsum")
    return g.emit(f"scan[{a}](sigmoid({v.name}), {v.name})", v.axes, "scan")


def op_layout(g: _Gen, v: Val) -> Val | None:
    a = g.pick(list(v.axes))
    kind = g.pick(["flip", "roll", "slice", "pad", "concat"])
    if kind == "flip":
        return g.emit(f"flip[{a}]({v.name})", v.axes, "flip")
    if kind == "roll":
        return g.emit(f"roll[{a}]({v.name}, shift={g.rng.randint(-3, 3)})", v.axes, "roll")
    if a == "batch":
        return None
    new = g.new("r")
    out = [new if x == a else x for x in v.axes]
    size = g.sizes[a]
    if kind == "slice":
        if size is None:
            start, stop = g.pick([(0, "-1"), (1, None), (0, "1")])
        else:
            if size < 2:
                return None
            start = g.rng.randint(0, size - 2)
            stop = str(g.rng.randint(start + 1, size))
        step = 1 if size is None else g.rng.randint(1, 2)
        if size is None:  # `stop=1` of a free axis is one entry, whatever its size (campaign seed 83083)
            g.sizes[new] = 1 if stop == "1" else None
        else:
            g.sizes[new] = len(range(start, int(stop), step))
        stop_text = "" if stop is None else f", stop={stop}"
        return g.emit(f"slice[{a} -> {new}]({v.name}, start={start}{stop_text}, step={step})", out, "slice")
    if kind == "pad":
        before, after = g.rng.randint(0, 2), g.rng.randint(0, 2)
        mode = g.pick(['"constant"', '"replicate"'] + ['"reflect"'] * (size is not None and size > 2))
        g.sizes[new] = None if size is None else size + before + after
        if mode == '"reflect"':
            before, after = min(before, size - 1), min(after, size - 1)
            g.sizes[new] = size + before + after
        return g.emit(f"pad[{a} -> {new}]({v.name}, before={before}, after={after}, mode={mode})", out, "pad")
    if size is None:
        return None
    g.sizes[new] = 2 * size
    return g.emit(f"concat[{a} -> {new}]({v.name}, tanh({v.name}))", out, "concat")


OPS = [
    op_unary,
    op_linear,
    op_norm,
    op_softmax,
    op_reduce,
    op_rename,
    op_split_merge,
    op_contract,
    op_residual,
    op_param,
    op_circuit,
    op_attention,
    op_positions,
    op_mask,
    op_topk,
    op_scan,
    op_layout,
]


# ---- the image branch -----------------------------------------------------------


@dataclass
class _Img:
    """The image branch's current value: channel axis and spatial axes."""

    name: str
    channel: str
    spatial: list[str]


def _out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def img_step(g: _Gen, v: _Img, runs: list[dict[str, int]]) -> _Img | None:
    """One image op (conv, pool, upsample, norm, activation) on ``v``."""
    kind = g.pick(["conv", "conv", "pool", "upsample", "convt", "norm", "act"])
    if kind == "act":
        return _emit_img(g, f"relu({v.name}) + {v.name} * 0.1", v.channel, v.spatial, "img-act")
    if kind == "norm":
        if g.rng.random() < 0.5:
            return _emit_img(g, f"batchnorm[{v.channel}]({v.name})", v.channel, v.spatial, "batchnorm")
        return _emit_img(g, f"layernorm[{v.channel}]({v.name})", v.channel, v.spatial, "layernorm")
    which = v.spatial[: g.rng.randint(1, len(v.spatial))]
    out_c = v.channel
    if kind == "conv":
        k, s, p, dil = g.rng.randint(1, 3), g.rng.randint(1, 2), g.rng.randint(0, 1), g.rng.randint(1, 2)
        out_c = g.pick(["c", "a", "b", "m"])
        groups = g.sizes[out_c] if g.rng.random() < 0.3 and out_c == v.channel else 1
        opts = f"kernel={k}, stride={s}, padding={p}, dilation={dil}" + (f", groups={groups}" if groups > 1 else "")

        def rule(n: int) -> int:
            return _out_size(n, k, s, p, dil)

        box = f"conv[{v.channel} -> {out_c}, {{pairs}}]({v.name}, {opts})"
    elif kind == "convt":
        k, s = g.rng.randint(1, 3), g.rng.randint(1, 2)
        p = g.rng.randint(0, (k - 1) // 2)
        op = g.rng.randint(0, s - 1)
        out_c = g.pick(["c", "a", "b"])

        def rule(n: int) -> int:
            return (n - 1) * s - 2 * p + (k - 1) + op + 1

        box = (
            f"conv_transpose[{v.channel} -> {out_c}, {{pairs}}]({v.name}, kernel={k}, stride={s}, "
            f"padding={p}, output_padding={op})"
        )
    elif kind == "pool":
        k = g.rng.randint(1, 3)
        s = g.rng.randint(1, k)
        p = g.rng.randint(0, k // 2)
        pool = g.pick(["maxpool", "avgpool"])
        extra = g.pick(["", ", count_include_pad=false"]) if pool == "avgpool" else ""
        kind = pool

        def rule(n: int) -> int:
            return _out_size(n, k, s, p, 1)

        box = f"{pool}[{{pairs}}]({v.name}, kernel={k}, stride={s}, padding={p}{extra})"
    else:
        mode = g.pick(['"nearest"', '"linear"'])

        def rule(n: int) -> int:
            return 2 * n

        box = f"upsample[{{pairs}}]({v.name}, scale=2, mode={mode})"
    new = {}
    for a in which:
        got = [rule(n) for n in g.dyn[a]]
        if min(got) < 1 or max(got) > 28:
            return None
        new[a] = g.new("s")
        g.dyn[new[a]] = got
        g.sizes[new[a]] = None if g.sizes[a] is None else got[0]
    pairs = ", ".join(f"{a} -> {new[a]}" for a in which)
    feature = "conv_transpose" if kind == "convt" else kind
    return _emit_img(g, box.format(pairs=pairs), out_c, [new.get(a, a) for a in v.spatial], feature)


def _emit_img(g: _Gen, expr: str, channel: str, spatial: list[str], feature: str) -> _Img:
    name = g.new("im")
    g.lines.append(f"    {name} = {expr}")
    g.features.append(feature)
    return _Img(name, channel, spatial)


# ---- whole programs ----------------------------------------------------------------


def _runs(g: _Gen) -> list[dict[str, int]]:
    small = {"batch": 2, "seq": 3, "key": 3, "y": 9}
    large = {"batch": 3, "seq": g.bound, "key": g.bound, "y": 12}
    return [small, large]


def program(seed: int, max_ops: int = 8) -> Generated:
    """The valid program of ``seed``: one model over random axes and features."""
    g = _Gen(seed)
    r = g.rng
    runs = _runs(g)
    use = g.use = r.random() < 0.35
    has_seq = r.random() < 0.7
    inputs = ["batch"] + ["seq"] * has_seq + r.sample(["a", "b", "c", "m", "p"], r.randint(1, 2))
    x = Val("x", tuple(inputs))
    g.values.append(x)
    cur = x
    for _ in range(r.randint(1, max_ops)):
        op = r.choice(OPS)
        cur = op(g, cur) or cur
    results = [(f"out{g.fresh}", cur)]
    img: _Img | None = None
    if r.random() < 0.45:
        img = _Img("img", "c", ["y", "x"])
        for _ in range(r.randint(1, 3)):
            img = img_step(g, img, runs) or img
        results.append(("feat", Val(img.name, ("batch", img.channel, *img.spatial))))
    extra = [o for o in g.values[1:-1] if o is not cur]
    if extra and r.random() < 0.3:
        results.append(("aux", r.choice(extra)))
    params = ""
    if r.random() < 0.3:
        params = f"[depth: int = {r.randint(1, 2)}, gain: float = 0.5]"
        g.lines.append(f"    {cur.name} = Deep[{g.pick(g.fixed(cur) or ['c'])}, depth=depth]({cur.name}) * gain")
        if not g.fixed(cur):
            g.lines.pop()
            params = ""
    sig_in = [f"x: [{', '.join(inputs)}]"]
    if img is not None:
        sig_in.append("img: [batch, c, y, x]")
    if "bool-input" in g.features:
        sig_in.append("keep: bool[batch, key]")
    outs = []
    for name, val in results:
        axes = list(val.axes)
        r.shuffle(axes)
        outs.append(f"{name}: [{', '.join(axes)}]")
    ret = ", ".join(val.name for _, val in results)
    sig_out = outs[0].split(": ", 1)[1] if len(outs) == 1 and r.random() < 0.5 else f"({', '.join(outs)})"
    head = []
    if use:
        head.append(f'use "{r.choice(["attention.ncd", "transformer.ncd"])}"')
    head += [
        "axis batch",
        f"axis seq <= {g.bound}, key ~ seq",
        f"axis a = {g.a}, b = {g.b}, c = 2 * a, p = {g.p}, q = {g.q}, m = p * q",
        "axis two = 2, kv = 2, grp = 2, hd = 4, ex = 3, ch = 2, ff = 3",
        "axis y" if g.free_y else f"axis y = {g.ysize}",
        f"axis x = {g.xsize}",
    ]
    extra_axes = {k: s for k, s in g.sizes.items() if k[0] in "rts" and k[1:].isdigit() and s is not None}
    del extra_axes  # derived axes are made by the boxes themselves
    body = "\n".join(g.lines + [f"    return {ret}"])
    header = "".join(
        c
        for c in _circuits(HEADER)
        if re.search(
            rf"\b{c.split('[', 1)[0].split()[1]}\[", body + "".join(_circuits(HEADER)[1:2]) * ("Deep[" in body)
        )
    )
    text = "\n".join(head) + "\n\n" + header + f"\nmodel Gen{params}({', '.join(sig_in)}) -> {sig_out} {{\n{body}\n}}\n"
    hierarchy = "instances" if (seed // len(OPSETS)) % 3 == 0 else "flat"
    return Generated(seed, text, runs, OPSETS[seed % len(OPSETS)], g.features, hierarchy)

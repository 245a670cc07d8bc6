"""The primitive boxes: for each, its axes rule, options and parameters.

A box names in brackets the axes it acts on; every other axis of its inputs
passes by. Each rule below checks its inputs, infers its output axes (in the
layout order of :mod:`ncdl.ir`) and declares its parameters with torch.nn's
shapes and initialisation. docs/language.md has one section per box.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Span, did_you_mean, fmt_axes
from ncdl.dsl.elaborate import Elaborator
from ncdl.dsl.options import BadOption, Opt, Options, registry_opt
from ncdl.dsl.values import POISON, Env, Result, Value
from ncdl.ir.graph import integer_range
from ncdl.ir.ranges import le, nonneg
from ncdl.ir.sizes import Size


@dataclass
class Box:
    """One primitive call being checked: its inputs, options and helpers."""

    el: Elaborator
    call: ast.Call
    env: Env
    args: list[Value]
    opts: Options
    assign: str | None
    tie: str | None = None

    @property
    def name(self) -> str:
        return self.call.func

    def fail(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> Any:
        """Record a diagnostic and abandon the box."""
        self.el.error(code, message, span or self.call.span, hint)
        raise BadOption

    # brackets ---------------------------------------------------------------
    def items(self) -> list[ast.BMap]:
        out = []
        for item in self.call.brackets or []:
            if isinstance(item, ast.BKw):
                self.fail("E134", f"'{self.name}' takes axes in brackets, not '{item.name}='", item.span)
            out.append(item)
        return out

    def flat_axes(self, value: Value | None = None, *, at_least: int = 1, exactly: int | None = None) -> list[str]:
        """Bracket axes with no arrows (``softmax[key]``, ``sum[y, x]``), resolved and checked on ``value``."""
        names: list[ast.SExpr] = []
        for item in self.items():
            if item.rhs is not None:
                self.fail("E137", f"'{self.name}' takes a list of axes, not a map with '->'", item.span)
            names += item.lhs
        count = len(names)
        if (exactly is not None and count != exactly) or count < at_least:
            want = f"exactly {exactly}" if exactly is not None else f"at least {at_least}"
            example = f"{self.name}[{', '.join(['a', 'b'][: exactly or at_least])}]"
            self.fail(
                "E138",
                f"'{self.name}' needs {want} axis{'es' * ((exactly or at_least) != 1)} in brackets, got {count}",
                self.call.brackets_span,
                f"e.g. {example}",
            )
        axes = [self.resolve(n) for n in names]
        if len(set(axes)) != len(axes):
            self.fail("E114", f"an axis appears twice in {self.name}[...]", self.call.brackets_span)
        if value is not None:
            self.need(value, axes, 0)
        return axes

    def maps(self, *, at_least: int = 1) -> list[ast.BMap]:
        items = self.items()
        if len(items) < at_least:
            self.fail(
                "E138",
                f"'{self.name}' needs axes in brackets",
                self.call.brackets_span or self.call.func_span,
                f"see the '{self.name}' section of docs/language.md",
            )
        return items

    def resolve(self, e: ast.SExpr) -> str:
        """An existing axis (name or size expression); fail when unknown."""
        concrete = self.el.axis_of(e, self.env)
        if concrete is None:
            raise BadOption
        return concrete

    def new_axis(self, e: ast.SExpr, size: Size, what: str) -> str:
        """An output axis: a new name gets ``size``; an existing one must have it."""
        if isinstance(e, ast.SName) and e.name not in self.env.ints:
            concrete = self.el.define_axis(e.name, size, self.env, e.span, what)
        else:
            concrete = self.resolve(e)
            if not self.el.same_size(concrete, size, e.span, f"{what} gives size"):
                concrete = None
        if concrete is None:
            raise BadOption
        return concrete

    def need(self, value: Value, axes: list[str], index: int) -> None:
        """Check ``value`` carries every axis in ``axes``."""
        missing = [a for a in axes if a not in value.axes]
        if missing:
            label = f"has {fmt_axes(value.axes)}, {self.name} needs {', '.join(missing)}"
            self.el.error_box(self.name, [(value, label)], self.env, self.call.span)
            arg = self.call.args[index] if index < len(self.call.args) else self.call
            what = f"'{arg.name}'" if isinstance(arg, ast.Name) else "the input"
            self.fail(
                "E121",
                f"{what} has axes {fmt_axes(value.axes)}; {self.name}[...] needs {', '.join(repr(m) for m in missing)}",
                self.call.brackets_span or self.call.span,
                f"the value's axes are {fmt_axes(value.axes)}",
            )

    def fixed(self, axis: str, *, allow_bound: bool = False) -> int:
        size = self.el.fixed(axis, self.call.brackets_span or self.call.span, f"'{self.name}'", allow_bound=allow_bound)
        if size is None:
            raise BadOption
        return size

    def not_on(self, value: Value, produced: list[str], consumed: list[str]) -> None:
        """A produced axis may not already pass by (it would appear twice)."""
        clash = [a for a in produced if a in value.axes and a not in consumed]
        if clash:
            self.fail(
                "E122",
                f"axis '{clash[0]}' is already on the input {fmt_axes(value.axes)}; '{self.name}' would make it twice",
                self.call.brackets_span,
                "rename one of them first",
            )

    # nodes -----------------------------------------------------------------
    def path(self) -> str:
        default = self.assign if self.assign and not self.call.from_chain else self.name
        path = self.el.instance_path(self.env, self.call, default)
        if self.tie is not None:
            self.env.ties.append((path, self.tie))
        return path

    def param(self, path: str, key: str, axes: list[str], shape: list[int], init: dict[str, Any]) -> dict[str, Any]:
        return self.el.make_param(self.env, path, key, axes, shape, init, self.call.span)

    def add(self, op: str, inputs: list[Value], axes: list[str], **kw: Any) -> Value:
        name = self.call.label or (self.assign if self.assign and not self.call.from_chain else op)
        return self.el.add(op, inputs, axes, self.env, self.call.span, name=name, **kw)


@dataclass(frozen=True)
class Prim:
    """A primitive box: its rule, tensor arity, bracket use and options."""

    rule: Callable[[Box], Value]
    arity: tuple[int, int | None] = (1, 1)
    brackets: str = "required"  # "required" | "none" | "optional"
    options: dict[str, Opt] = field(default_factory=dict)
    takes_int: bool = False
    learned: bool = False
    takes_bool: bool = False
    #: plain numbers may stand for tensor arguments (``where(m, x, 0)``, ``max(x, 0)``)
    numbers: bool = False


def _uniform(fan_in: int) -> dict[str, Any]:
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return {"kind": "uniform", "low": -bound, "high": bound}


def _prod(xs: list[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _flat(param: dict[str, Any], flat: list[int]) -> dict[str, Any]:
    """Record torch.nn's (flat) shape of a weight whose axes it fuses (see :mod:`ncdl.ir.flat`)."""
    if flat != param["shape"]:
        param["flat"] = flat
    return param


# ---- rules -------------------------------------------------------------------


def _linear(b: Box) -> Value:
    (x,) = b.args
    maps = b.maps()
    if len(maps) != 1 or maps[0].rhs is None:
        b.fail(
            "E137",
            "linear takes one map: linear[in axes -> out axes]",
            b.call.brackets_span,
            "e.g. linear[model -> heads head]",
        )
    ins = [b.resolve(e) for e in maps[0].lhs]
    outs = [b.resolve(e) for e in maps[0].rhs]
    b.need(x, ins, 0)
    b.not_on(x, outs, ins)
    if len(set(outs)) != len(outs):
        b.fail("E114", "an output axis appears twice in linear[...]", b.call.brackets_span)
    in_sizes = [b.fixed(a) for a in ins]
    out_sizes = [b.fixed(a) for a in outs]
    path = b.path()
    init = b.opts.get("init") or _uniform(_prod(in_sizes))
    n_out, n_in = _prod(out_sizes), _prod(in_sizes)
    params = [_flat(b.param(path, "weight", outs + ins, out_sizes + in_sizes, init), [n_out, n_in])]
    bias = b.opts.get("bias")
    if bias:
        params.append(_flat(b.param(path, "bias", outs, out_sizes, init), [n_out]))
    axes = [a for a in x.axes if a not in ins] + outs
    attrs = {"in": ins, "out": outs, "bias": bias}
    return b.add("linear", [x], axes, attrs=attrs, params=params, scope=path)


def _embed(b: Box) -> Value:
    (x,) = b.args
    maps = b.maps()
    if len(maps) != 1 or maps[0].rhs is None or len(maps[0].lhs) != 1:
        b.fail("E137", "embed takes one map: embed[vocab -> features]", b.call.brackets_span)
    vocab = b.resolve(maps[0].lhs[0])
    outs = [b.resolve(e) for e in maps[0].rhs]
    if x.dtype != "int64":
        b.fail("E146", "embed needs an integer tensor (`int[...] of vocab`)", b.call.args[0].span)
    if x.of != vocab:
        b.fail(
            "E124",
            f"embed[{vocab} -> ...] needs integers that index '{vocab}', but these index '{x.of}'",
            b.call.brackets_span,
        )
    b.not_on(x, outs, [])
    n = b.fixed(vocab, allow_bound=True)  # a bounded axis: a row per position up to the bound (nanoGPT's wpe)
    out_sizes = [b.fixed(a) for a in outs]
    path = b.path()
    params = [
        _flat(b.param(path, "weight", [vocab] + outs, [n] + out_sizes, b.opts.get("init")), [n, _prod(out_sizes)])
    ]
    return b.add("embed", [x], list(x.axes) + outs, attrs={"vocab": vocab, "out": outs}, params=params, scope=path)


_PARAM_HINT = "e.g. param[model](init=ones); for one learned number declare `axis one = 1` and write param[one]"


def _param(b: Box) -> Value:
    if not b.call.brackets:
        b.fail("E138", "'param' needs the axes of its tensor in brackets", b.call.brackets_span, _PARAM_HINT)
    axes = b.flat_axes(at_least=1)
    shape = [b.fixed(a, allow_bound=True) for a in axes]
    path = b.path()
    init = b.opts.get("init")
    params = [b.param(path, "", axes, shape, init)]
    return b.add("param", [], axes, params=params, scope=path)


def _buffer(b: Box) -> Value:
    """``buffer[axes…](init=zeros, persistent=true)``: non-learned state, as torch.nn's ``register_buffer``."""
    if not b.call.brackets:
        b.fail("E138", "'buffer' needs the axes of its tensor in brackets", b.call.brackets_span, _PARAM_HINT)
    axes = b.flat_axes(at_least=1)
    shape = [b.fixed(a, allow_bound=True) for a in axes]
    init, persistent = b.opts.get("init"), b.opts.get("persistent")
    if not persistent and init["kind"] in ("normal", "uniform"):
        b.fail(
            "E243",
            "a buffer that is not persistent never reaches the state_dict, so its values must follow "
            f"from the program; init={init['kind']}(...) draws random ones",
            b.opts.span("init"),
            "use zeros, ones or constant(value), or make it persistent",
        )
    path = b.path()
    spec = {"key": "", "name": path, "axes": axes, "shape": shape, "init": init, "persistent": persistent}
    return b.add("buffer", [], axes, attrs={"persistent": persistent}, buffers=[spec], scope=path)


def _contract(b: Box) -> Value:
    x, y = b.args
    over = b.flat_axes(at_least=0)
    for i, v in enumerate((x, y)):
        b.need(v, over, i)
    shared = [a for a in x.axes if a in y.axes and a not in over]
    rest_x = [a for a in x.axes if a not in over and a not in y.axes]
    rest_y = [a for a in y.axes if a not in over and a not in x.axes]
    return b.add("contract", [x, y], shared + rest_x + rest_y, attrs={"over": over})


def _unary(op: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        attrs = {"approximate": b.opts.get("approximate")} if op == "gelu" else {}
        return b.add(op, [x], list(x.axes), attrs=attrs)

    return rule


def _softmax(op: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        (axis,) = b.flat_axes(x, exactly=1)
        return b.add(op, [x], list(x.axes), attrs={"axis": axis})

    return rule


def _cumsum(b: Box) -> Value:
    """``cumsum[t](x)``: the running sum along one axis; the layout is unchanged."""
    (x,) = b.args
    (axis,) = b.flat_axes(x, exactly=1)
    return b.add("cumsum", [x], list(x.axes), attrs={"axis": axis})


def _scan(b: Box) -> Value:
    """``scan[t](a, b)``: h[t] = a[t] * h[t-1] + b[t]; both carry ``t``, one's axes include the other's."""
    decay, drive = b.args
    (axis,) = b.flat_axes(at_least=1, exactly=1)
    for i, v in enumerate((decay, drive)):
        b.need(v, [axis], i)
    if set(decay.axes) >= set(drive.axes):
        wide = decay
    elif set(drive.axes) > set(decay.axes):
        wide = drive
    else:
        only_a = ", ".join(repr(a) for a in decay.axes if a not in drive.axes)
        only_b = ", ".join(repr(a) for a in drive.axes if a not in decay.axes)
        b.fail(
            "E120",
            f"scan inputs have axes {fmt_axes(decay.axes)} and {fmt_axes(drive.axes)}",
            b.call.span,
            f"{only_a} only on the first, {only_b} only on the second; one input's axes must include the other's",
        )
    return b.add("scan", [decay, drive], list(wide.axes), attrs={"axis": axis})


def _axis_to_axis(b: Box) -> tuple[ast.SExpr, ast.SExpr]:
    """The one ``a -> b`` map of single axes in the brackets (``argtopk[expert -> choice]``)."""
    maps = b.maps()
    if len(maps) != 1 or maps[0].rhs is None or len(maps[0].lhs) != 1 or len(maps[0].rhs) != 1:
        b.fail("E137", f"'{b.name}' takes one map of single axes: {b.name}[a -> b]", b.call.brackets_span)
    return maps[0].lhs[0], maps[0].rhs[0]


def _indices(b: Box, idx: Value, index: int, of: str) -> None:
    """``idx`` must be an integer tensor whose entries index ``of``."""
    if idx.dtype != "int64":
        b.fail("E146", f"'{b.name}' needs integer indices here (`int[...] of {of}`)", b.call.args[index].span)
    if idx.of != of:
        b.fail(
            "E124",
            f"{b.name} needs integers that index '{of}', but these index '{idx.of}'",
            b.call.args[index].span,
            f"the indices must come from a box over '{of}' (argtopk[{of} -> ...]) or an input `of {of}`",
        )


def _computed_in_range(b: Box, idx: Value, axis: str) -> bool:
    """True when the integers ``idx`` are proved to index ``axis``; E260 when computed ones are not.

    Integers with no range that index another axis (an input ``of`` it) are left to E124.
    """
    held = integer_range(b.el.g, idx.node)
    if held is None and idx.of is not None:
        return False
    if b.el.generic:
        return True  # each call site proves it with its sizes
    size = b.el.axes[axis].size
    if held is not None and nonneg(held.lo) and le(held.hi, size - 1):
        return True
    span = b.call.args[1].span
    need = f"{b.name}[{axis}] needs indices from 0 to {size - 1} (the positions of '{axis}')"
    if held is None:
        b.fail(
            "E260",
            f"{need}, but nothing bounds these computed integers",
            span,
            "compute them with + - * and constants from positions, whose ranges are known; or index with an "
            f"input `of {axis}` (checked when the model runs) or argtopk's indices",
        )
    b.fail(
        "E260",
        f"{need}, but these computed integers may hold values from {held.lo} to {held.hi}",
        span,
        "check the arithmetic: its smallest value must be at least 0 and its largest below the axis size",
    )
    return False


def _argtopk(b: Box) -> Value:
    """``argtopk[expert -> choice](x, k=2)``: the indices of the k largest, an integer tensor of ``expert``."""
    (x,) = b.args
    lhs, rhs = _axis_to_axis(b)
    axis = b.resolve(lhs)
    b.need(x, [axis], 0)
    if x.dtype != "float32":
        b.fail("E146", "'argtopk' needs a float tensor", b.call.args[0].span)
    k, size = b.opts.get("k"), b.el.axes[axis].fixed
    if k is None:
        b.fail("E139", f"'{b.name}' needs option 'k', how many entries to keep", b.call.span, "e.g. k=2")
    if k < 1 or (size is not None and k > size):
        b.fail("E185", f"k={k} is not between 1 and the size of '{axis}' ({size})", b.opts.span("k"))
    into = b.new_axis(rhs, Size.const(k), "argtopk")
    b.not_on(x, [into], [axis])
    out = [into if a == axis else a for a in x.axes]
    return b.add("argtopk", [x], out, attrs={"axis": axis, "into": into, "k": k}, dtype="int64", of=axis)


def _topk(b: Box) -> tuple[Value, Value]:
    """``values, indices = topk[expert -> choice](x, k=2)``: argtopk's indices and the values gathered at them."""
    indices = _argtopk(b)
    (x,) = b.args
    name = b.call.label or (b.assign if b.assign and not b.call.from_chain else "topk")
    values = b.el.add(
        "gather",
        [x, indices],
        list(indices.axes),
        b.env,
        b.call.span,
        name=f"{name}_values",
        attrs={"axis": indices.of},
    )
    return values, indices


def _gather(b: Box) -> Value:
    """``gather[expert](x, idx)``: x's entries along ``expert`` at the positions ``idx`` holds.

    ``idx`` is an input or ``argtopk`` result ``of expert``, or integers computed (from positions) whose
    arithmetic proves them inside ``0 .. expert - 1`` (:mod:`ncdl.ir.ranges`); a generic circuit leaves that
    proof to each call site, where the sizes are known.
    """
    x, idx = b.args
    (axis,) = b.flat_axes(x, exactly=1)
    if idx.dtype != "int64" or idx.of == axis or not _computed_in_range(b, idx, axis):
        _indices(b, idx, 1, axis)
    if axis in idx.axes:
        b.fail("E186", f"the indices carry '{axis}', the axis they index", b.call.args[1].span, "rename it first")
    at = x.axes.index(axis)
    picked = [a for a in idx.axes if a not in x.axes]
    out = [*x.axes[:at], *picked, *x.axes[at + 1 :]]
    return b.add("gather", [x, idx], out, attrs={"axis": axis}, dtype=x.dtype, of=x.of)


def _scatter(b: Box) -> Value:
    """``scatter[choice -> expert](v, idx)``: v's entries placed at the positions ``idx`` holds along ``expert``."""
    v, idx = b.args
    lhs, rhs = _axis_to_axis(b)
    axis = b.resolve(lhs)
    b.need(v, [axis], 0)
    into = b.resolve(rhs)
    _indices(b, idx, 1, into)
    if set(idx.axes) != set(v.axes):
        b.fail(
            "E186",
            f"scatter's values {fmt_axes(v.axes)} and indices {fmt_axes(idx.axes)} need the same axes",
            b.call.span,
        )
    b.fixed(into)
    b.not_on(v, [into], [axis])
    out = [into if a == axis else a for a in v.axes]
    return b.add("scatter", [v, idx], out, attrs={"axis": axis, "into": into})


def _moe(b: Box) -> Value:
    """``moe[expert](gates, values)``: sum over ``expert`` of gates * values, each expert run on its rows only."""
    gates, values = b.args
    (axis,) = b.flat_axes(at_least=1, exactly=1)
    for i, v in enumerate((gates, values)):
        b.need(v, [axis], i)
    if not set(gates.axes) <= set(values.axes):
        extra = ", ".join(repr(a) for a in gates.axes if a not in values.axes)
        b.fail(
            "E187",
            f"the gates {fmt_axes(gates.axes)} carry {extra}, which the experts' values {fmt_axes(values.axes)} lack",
            b.call.args[0].span,
            "the gates are [tokens..., expert]; the values [tokens..., expert, features...]",
        )
    return b.add("moe", [gates, values], [a for a in values.axes if a != axis], attrs={"axis": axis})


def _norm(op: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        axes = b.flat_axes(x)
        eps = b.opts.get("eps")
        if eps <= 0:
            b.fail("E136", "eps must be positive", b.opts.span("eps"))
        affine = b.opts.get("affine")
        sizes = [b.fixed(a) for a in axes] if affine else []  # only a weight needs fixed sizes
        path = b.path()
        params = []
        attrs: dict[str, Any] = {"axes": axes, "eps": eps, "affine": affine}
        if affine:
            params.append(b.param(path, "weight", axes, sizes, {"kind": "ones"}))
        if op == "layernorm":
            bias = affine and b.opts.get("bias")
            attrs["bias"] = bias
            if bias:
                params.append(b.param(path, "bias", axes, sizes, {"kind": "zeros"}))
        return b.add(op, [x], list(x.axes), attrs=attrs, params=params, scope=path)

    return rule


def _groupnorm(b: Box) -> Value:
    """``groupnorm[c, y, x](v, groups=G)``: the first bracket axis is the channel axis split into groups."""
    (x,) = b.args
    axes = b.flat_axes(x)
    channel = axes[0]
    c = b.fixed(channel)
    path = b.path()
    groups, eps, affine = b.opts.get("groups"), b.opts.get("eps"), b.opts.get("affine")
    if groups is None:
        b.fail("E139", "'groupnorm' needs option 'groups'", b.call.span, "e.g. groups=32")
    if groups < 1 or c % groups:
        b.fail(
            "E136",
            f"groups={groups} does not divide '{channel}' (size {c})",
            b.opts.span("groups"),
            f"choose a divisor of {c}",
        )
    if eps <= 0:
        b.fail("E136", "eps must be positive", b.opts.span("eps"))
    params = []
    if affine:
        params.append(b.param(path, "weight", [channel], [c], {"kind": "ones"}))
        params.append(b.param(path, "bias", [channel], [c], {"kind": "zeros"}))
    attrs = {"axes": axes, "groups": groups, "eps": eps, "affine": affine}
    return b.add("groupnorm", [x], list(x.axes), attrs=attrs, params=params, scope=path)


def _batchnorm(b: Box) -> Value:
    (x,) = b.args
    (axis,) = b.flat_axes(x, exactly=1)
    n = b.fixed(axis)
    rest = [b.el.axes[a].fixed for a in x.axes if a != axis]
    if all(size == 1 for size in rest):
        b.fail(
            "E212",
            f"batchnorm[{axis}] of {fmt_axes(x.axes)} has one value per channel: there is nothing to take statistics over",
            b.call.span,
            "batchnorm averages over the other axes (the batch, the positions); add them, or use layernorm",
        )
    path = b.path()
    eps, momentum = b.opts.get("eps"), b.opts.get("momentum")
    if eps <= 0 or not 0 <= momentum <= 1:
        b.fail("E136", "batchnorm needs eps > 0 and 0 <= momentum <= 1", b.call.span)
    params = [
        b.param(path, "weight", [axis], [n], {"kind": "ones"}),
        b.param(path, "bias", [axis], [n], {"kind": "zeros"}),
    ]
    buffers = [
        {
            "key": "running_mean",
            "name": f"{path}.running_mean",
            "axes": [axis],
            "shape": [n],
            "init": {"kind": "zeros"},
        },
        {"key": "running_var", "name": f"{path}.running_var", "axes": [axis], "shape": [n], "init": {"kind": "ones"}},
        {
            "key": "num_batches_tracked",
            "name": f"{path}.num_batches_tracked",
            "axes": [],
            "shape": [],
            "init": {"kind": "zeros"},
            "dtype": "int64",
        },
    ]
    attrs = {"axis": axis, "eps": eps, "momentum": momentum}
    return b.add("batchnorm", [x], list(x.axes), attrs=attrs, params=params, buffers=buffers, scope=path)


def _dropout(b: Box) -> Value:
    (x,) = b.args
    p = b.opts.get("p")
    if not 0 <= p < 1:
        b.fail("E136", f"dropout probability must be in [0, 1), got {p}", b.opts.span("p"))
    return b.add("dropout", [x], list(x.axes), attrs={"p": p})


def _causal(b: Box) -> Value:
    (x,) = b.args
    query, key = b.flat_axes(x, exactly=2)
    return b.add("causal", [x], list(x.axes), attrs={"query": query, "key": key})


def _reduce(op: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        axes = b.flat_axes(x)
        return b.add(op, [x], [a for a in x.axes if a not in axes], attrs={"axes": axes})

    return rule


def _rename(b: Box) -> Value:
    (x,) = b.args
    mapping: dict[str, str] = {}
    for item in b.maps():
        if item.rhs is None or len(item.lhs) != 1 or len(item.rhs) != 1:
            b.fail("E137", "rename takes maps of single axes: rename[a -> b, c -> d]", item.span)
        old = b.resolve(item.lhs[0])
        b.need(x, [old], 0)
        mapping[old] = b.new_axis(item.rhs[0], b.el.axes[old].size, "rename")
    out = [mapping.get(a, a) for a in x.axes]
    if len(set(out)) != len(out):
        dup = next(a for a in out if out.count(a) > 1)
        b.fail("E122", f"rename would give the value axis '{dup}' twice", b.call.brackets_span)
    return b.add("rename", [x], out, attrs={"map": mapping}, dtype=x.dtype, of=x.of)


def _split(b: Box) -> Value | tuple[Value, ...]:
    (x,) = b.args
    maps = b.maps()
    if len(maps) > 1:
        return _split_parts(b, x, maps)
    if len(maps) != 1 or maps[0].rhs is None or len(maps[0].lhs) != 1 or len(maps[0].rhs) < 2:
        b.fail("E137", "split takes one axis into several: split[m -> h k]", b.call.brackets_span)
    axis = b.resolve(maps[0].lhs[0])
    b.need(x, [axis], 0)
    total = b.el.axes[axis].size
    known: dict[int, Size] = {}
    unknown: list[int] = []
    for i, e in enumerate(maps[0].rhs):
        concrete = b.el.lookup_axis(e.name, b.env) if isinstance(e, ast.SName) else b.resolve(e)
        if concrete is None:
            unknown.append(i)
        else:
            known[i] = b.el.axes[concrete].size
    if len(unknown) > 1:
        names = ", ".join(repr(maps[0].rhs[i].name) for i in unknown)
        b.fail(
            "E125",
            f"split can infer one new axis size, but {names} are all new",
            b.call.brackets_span,
            "declare all but one of them",
        )
    product = Size.const(1)
    for s in known.values():
        product = product * s
    if unknown:
        rest = total.exact_div(product)
        if rest is None and b.el.deferred(total, product):
            rest = b.el.fresh_opaque(maps[0].rhs[unknown[0]].name)
        if rest is None:
            b.fail("E106", f"split: {total} is not divisible by {product}", b.call.brackets_span)
        known[unknown[0]] = rest
    elif product != total and not b.el.deferred(product, total):
        b.fail("E110", f"split: the parts multiply to {product}, but '{axis}' has size {total}", b.call.brackets_span)
    into = [b.new_axis(e, known[i], "split") for i, e in enumerate(maps[0].rhs)]
    b.not_on(x, into, [axis])
    pos = x.axes.index(axis)
    out = list(x.axes[:pos]) + into + list(x.axes[pos + 1 :])
    return b.add("split", [x], out, attrs={"axis": axis, "into": into})


def _merge(b: Box) -> Value:
    (x,) = b.args
    maps = b.maps()
    if len(maps) != 1 or maps[0].rhs is None or len(maps[0].rhs) != 1 or len(maps[0].lhs) < 1:
        b.fail("E137", "merge fuses axes into one: merge[h k -> m]", b.call.brackets_span)
    axes = [b.resolve(e) for e in maps[0].lhs]
    b.need(x, axes, 0)
    size = Size.const(1)
    for a in axes:
        size = size * b.el.axes[a].size
    into = b.new_axis(maps[0].rhs[0], size, "merge")
    b.not_on(x, [into], axes)
    out = [into if a == axes[0] else a for a in x.axes if a not in axes[1:]]
    return b.add("merge", [x], out, attrs={"axes": axes, "into": into})


def _split_parts(b: Box, x: Value, maps: list[ast.BMap]) -> tuple[Value, ...]:
    """``a, b = split[c -> a, b](x)``: consecutive parts of ``c``, each a ``slice`` node.

    Every part but at most one is an axis of known size; the one left is new
    and takes what remains. On a free axis the parts of known size need fixed
    sizes, and the slices count from the end after the inferred part."""
    shape = "split into parts: split[c -> a, b, ...], one new axis per part"
    if maps[0].rhs is None or len(maps[0].lhs) != 1 or len(maps[0].rhs) != 1:
        b.fail("E137", shape, b.call.brackets_span)
    if any(m.rhs is not None or len(m.lhs) != 1 for m in maps[1:]):
        b.fail("E137", shape, b.call.brackets_span)
    axis = b.resolve(maps[0].lhs[0])
    b.need(x, [axis], 0)
    parts = [maps[0].rhs[0], *(m.lhs[0] for m in maps[1:])]
    sizes: list[Size | None] = []
    for e in parts:
        concrete = b.el.lookup_axis(e.name, b.env) if isinstance(e, ast.SName) else b.resolve(e)
        sizes.append(None if concrete is None else b.el.axes[concrete].size)
    unknown = [i for i, s in enumerate(sizes) if s is None]
    if len(unknown) > 1:
        names = ", ".join(repr(parts[i].name) for i in unknown)
        b.fail("E125", f"split can infer one part's size, but {names} are all new", b.call.brackets_span)
    total = b.el.axes[axis].size
    known = Size.const(0)
    for s in sizes:
        known = known + (s if s is not None else Size.const(0))
    if unknown:
        rest = total - known
        if rest.as_int() is not None and rest.as_int() < 1:
            b.fail(
                "E241",
                f"split: the other parts take {known} of '{axis}' (size {total}); "
                f"nothing is left for '{parts[unknown[0]].name}'",
                b.call.brackets_span,
                "the parts' sizes add up to the axis's size",
            )
        sizes[unknown[0]] = rest
    elif known != total and not b.el.deferred(known, total):
        b.fail(
            "E240",
            f"split: the parts add up to {known}, but '{axis}' has size {total}",
            b.call.brackets_span,
            "leave one part a new axis to take the rest",
        )
    fixed = [s.as_int() for s in sizes]  # type: ignore[union-attr]
    if total.as_int() is None and any(f is None for i, f in enumerate(fixed) if i not in unknown):
        b.fail(
            "E242",
            f"split of the free axis '{axis}': every part but the inferred one needs a fixed size",
            b.call.brackets_span,
            "declare the parts' sizes (axis a = 4), or leave one part new to take the rest",
        )
    out = []
    cut = unknown[0] if unknown and total.as_int() is None else len(parts)
    for i, (e, size) in enumerate(zip(parts, sizes, strict=True)):
        if i <= cut:  # counted from the start
            start = sum(f for f in fixed[:i])  # type: ignore[misc]
            stop = None if i == len(parts) - 1 else (start + fixed[i] if i != cut else -sum(fixed[i + 1 :]))
        else:  # after an inferred part of a free axis: counted from the end
            start = -sum(fixed[i:])  # type: ignore[arg-type]
            stop = None if i == len(parts) - 1 else -sum(fixed[i + 1 :])  # type: ignore[arg-type]
        axes = _resized(b, x, axis, e, size)  # type: ignore[arg-type]
        into = axes[x.axes.index(axis)]
        attrs = {"axis": axis, "into": into, "start": start, "stop": stop, "step": 1}
        name = b.call.label or "split"
        out.append(b.el.add("slice", [x], axes, b.env, b.call.span, name=f"{name}_{into}", attrs=attrs, dtype=x.dtype))
    return tuple(out)


def _concat(b: Box) -> Value:
    maps = b.maps()
    if maps[-1].rhs is None or len(maps[-1].rhs) != 1 or any(m.rhs is not None for m in maps[:-1]):
        b.fail("E137", "concat ends with the new axis: concat[a, b -> c] or concat[c -> d]", b.call.brackets_span)
    lhs = [e for m in maps for e in m.lhs]
    names = [b.resolve(e) for e in lhs]
    if len(names) == 1:
        names = names * len(b.args)
    if len(names) != len(b.args):
        b.fail(
            "E130",
            f"concat names {len(names)} axes for {len(b.args)} inputs",
            b.call.brackets_span,
            "name one axis, or one per input",
        )
    total = Size.const(0)
    for i, (v, a) in enumerate(zip(b.args, names, strict=True)):
        b.need(v, [a], i)
        total = total + b.el.axes[a].size
    template_i = max(range(len(b.args)), key=lambda i: (len(b.args[i].axes), -i))
    template = b.args[template_i]
    others = [a for a in template.axes if a != names[template_i]]
    for i, v in enumerate(b.args):
        extra = [a for a in v.axes if a != names[i] and a not in others]
        if extra:
            b.fail(
                "E120",
                f"concat input {i + 1} has axes {fmt_axes(v.axes)}, but {', '.join(repr(e) for e in extra)} is on no wider input",
                b.call.args[i].span,
            )
    into = b.new_axis(maps[-1].rhs[0], total, "concat")
    if into in others:
        b.fail("E122", f"axis '{into}' is already on the inputs", b.call.brackets_span)
    out = [into if a == names[template_i] else a for a in template.axes]
    return b.add("concat", list(b.args), out, attrs={"axes": names, "into": into})


def _select(b: Box) -> Value:
    (x,) = b.args
    (axis,) = b.flat_axes(x, exactly=1)
    index = b.opts.get("index")
    size = b.el.axes[axis].fixed
    if index < 0 or (size is not None and index >= size):
        b.fail("E126", f"index {index} is outside axis '{axis}' of size {b.el.axes[axis].size}", b.opts.span("index"))
    return b.add(
        "select", [x], [a for a in x.axes if a != axis], attrs={"axis": axis, "index": index}, dtype=x.dtype, of=x.of
    )


def _one_map(b: Box, x: Value, example: str) -> tuple[str, ast.SExpr]:
    """The bracket ``[axis -> new]`` of a box that resizes one axis: the axis (checked on ``x``) and the new name."""
    maps = b.maps()
    if len(maps) != 1 or maps[0].rhs is None or len(maps[0].lhs) != 1 or len(maps[0].rhs) != 1:
        b.fail("E137", f"'{b.name}' takes one axis and its new name: {example}", b.call.brackets_span)
    axis = b.resolve(maps[0].lhs[0])
    b.need(x, [axis], 0)
    return axis, maps[0].rhs[0]


def _resized(b: Box, x: Value, axis: str, target: ast.SExpr, size: Size) -> list[str]:
    """``x``'s axes with ``axis`` replaced by the new axis ``target`` of ``size`` (checked positive)."""
    c = size.as_int()
    if c is not None and c < 1:
        b.fail("E127", f"'{b.name}' leaves axis '{axis}' with size {c}", b.call.span)
    into = b.new_axis(target, size, f"'{b.name}'")
    b.not_on(x, [into], [axis])
    return [into if a == axis else a for a in x.axes]


def _slice(b: Box) -> Value:
    (x,) = b.args
    axis, target = _one_map(b, x, f"{b.name}[seq -> part](x, start=0, stop=8)")
    start, stop, step = b.opts.get("start"), b.opts.get("stop"), b.opts.get("step")
    if step < 1:
        b.fail("E136", f"step must be positive, got {step}", b.opts.span("step"), "reverse an axis with flip[axis](x)")
    n = b.el.axes[axis].size
    fixed = n.as_int()
    if fixed is not None:
        size = Size.const(len(range(fixed)[start:stop:step]))
    else:
        first = _bound(b, start) if start >= 0 else n - _bound(b, -start)
        end = n if stop is None else (_bound(b, stop) if stop >= 0 else n - _bound(b, -stop))
        size = end - first if step == 1 else (end - first + (step - 1)) // step
    out = _resized(b, x, axis, target, size)
    into = out[x.axes.index(axis)]
    attrs = {"axis": axis, "into": into, "start": start, "stop": stop, "step": step}
    return b.add("slice", [x], out, attrs=attrs, dtype=x.dtype)


def _bound(b: Box, value: int) -> Size:
    """A slice bound as a size: the axis whose stand-in number it is when a symbolic circuit is drawn
    (``slice(x, stop=half)`` with ``half`` free is ``half``, not its stand-in prime), else the constant."""
    for name, stand_in in (b.el.stand_ins or {}).items():
        if value == stand_in:
            return b.el.axes[name].size
    return Size.const(value)


def _flip(b: Box) -> Value:
    (x,) = b.args
    axes = b.flat_axes(x)
    return b.add("flip", [x], list(x.axes), attrs={"axes": axes}, dtype=x.dtype, of=x.of)


def _roll(b: Box) -> Value:
    (x,) = b.args
    (axis,) = b.flat_axes(x, exactly=1)
    if not b.opts.has("shift"):
        b.fail("E139", "'roll' needs option 'shift'", b.call.span, "e.g. roll[seq](x, shift=1)")
    return b.add("roll", [x], list(x.axes), attrs={"axis": axis, "shift": b.opts.get("shift")}, dtype=x.dtype, of=x.of)


def _pad(b: Box) -> Value:
    (x,) = b.args
    axis, target = _one_map(b, x, f"{b.name}[x -> x2](img, before=1, after=2)")
    before, after, mode = b.opts.get("before"), b.opts.get("after"), b.opts.get("mode")
    if before < 0 or after < 0:
        b.fail("E136", f"pad needs before >= 0 and after >= 0, got {before} and {after}", b.call.span)
    n = b.el.axes[axis].size
    if mode == "reflect" and n.as_int() is not None and max(before, after) >= n.as_int():
        b.fail(
            "E136",
            f'mode="reflect" pads less than the axis size ({n}), got before={before}, after={after}',
            b.opts.span("mode"),
        )
    out = _resized(b, x, axis, target, n + before + after)
    into = out[x.axes.index(axis)]
    attrs = {"axis": axis, "into": into, "before": before, "after": after, "mode": mode, "value": b.opts.get("value")}
    return b.add("pad", [x], out, attrs=attrs)


def _spatial(b: Box, items: list[ast.BMap], x: Value) -> list[tuple[str, ast.SExpr | None, ast.BMap]]:
    out = []
    for item in items:
        if len(item.lhs) != 1 or (item.rhs is not None and len(item.rhs) != 1):
            b.fail("E137", f"'{b.name}' takes spatial axes one by one: y -> y2, x -> x2", item.span)
        axis = b.resolve(item.lhs[0])
        b.need(x, [axis], 0)
        if any(axis == done for done, _, _ in out):
            b.fail(
                "E210",
                f"spatial axis '{axis}' appears twice in '{b.name}[...]'",
                item.span,
                "name each spatial axis once",
            )
        out.append((axis, item.rhs[0] if item.rhs else None, item))
    if not 1 <= len(out) <= 3:
        b.fail("E138", f"'{b.name}' works on 1 to 3 spatial axes, got {len(out)}", b.call.brackets_span)
    return out


def _per_axis(b: Box, name: str, n: int, minimum: int) -> list[int]:
    value = b.opts.get(name)
    if value is None:
        b.fail("E139", f"'{b.name}' needs option '{name}'", b.call.span, f"e.g. {name}=3")
    values = list(value) * n if len(value) == 1 else list(value)
    if len(values) != n:
        b.fail("E136", f"'{name}' has {len(values)} values for {n} spatial axes", b.opts.span(name))
    if any(v < minimum for v in values):
        b.fail("E136", f"'{name}' values must be at least {minimum}", b.opts.span(name))
    return values


def _outputs(b: Box, spatial: list, sizes: list[Size]) -> list[str]:
    outs = []
    for (axis, target, item), size in zip(spatial, sizes, strict=True):
        c = size.as_int()
        if c is not None and c < 1:
            b.fail(
                "E127",
                f"'{b.name}' leaves axis '{axis}' with size {c}",
                item.span,
                "use a smaller kernel or stride, or more padding",
            )
        if target is None:
            if size == b.el.axes[axis].size or b.el.deferred(size, b.el.axes[axis].size):
                outs.append(axis)
                continue
            b.fail(
                "E123",
                f"'{b.name}' changes axis '{axis}' from {b.el.axes[axis].size} to {size}; name the new axis",
                item.span,
                f"write `{axis} -> {axis}2`",
            )
        outs.append(b.new_axis(target, size, f"'{b.name}'"))
    return outs


def _conv(transposed: bool) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        items = b.maps()
        if len(items) == 1 and items[0].rhs is not None:  # conv[c -> d]: the spatial axes are missing
            channel = b.el.format_sexpr(items[0].lhs[0], b.env) if len(items[0].lhs) == 1 else "c"
            spatial = [a for a in x.axes if a != b.el.lookup_axis(channel, b.env)][-2:] or ["y", "x"]
            example = f"{b.name}[{', '.join([_bracket_text(b, items[0]), *spatial])}]"
            b.fail(
                "E138",
                f"'{b.name}' needs its spatial axes after the channel map",
                b.call.brackets_span,
                f"e.g. {example}; map one to a new axis where it changes size (y -> y2)",
            )
        items = b.maps(at_least=2)
        chan = items[0]
        if chan.rhs is None or len(chan.lhs) != 1 or len(chan.rhs) != 1:
            b.fail("E137", f"'{b.name}' starts with the channel map: {b.name}[c -> d, y, x]", chan.span)
        c_in = b.resolve(chan.lhs[0])
        c_out = b.resolve(chan.rhs[0])
        b.need(x, [c_in], 0)
        spatial = _spatial(b, items[1:], x)
        b.not_on(x, [c_out], [c_in])
        n = len(spatial)
        kernel = _per_axis(b, "kernel", n, 1)
        stride = _per_axis(b, "stride", n, 1)
        dilation = _per_axis(b, "dilation", n, 1)
        groups = b.opts.get("groups")
        pad_opt = b.opts.get("padding")
        if pad_opt == "valid":
            padding = [0] * n
        elif pad_opt == "same":
            if transposed or any(s != 1 for s in stride):
                b.fail("E136", 'padding="same" needs stride 1 (and a plain conv)', b.opts.span("padding"))
            if any(d * (k - 1) % 2 for d, k in zip(dilation, kernel, strict=True)):
                b.fail("E136", 'padding="same" needs an odd kernel extent', b.opts.span("padding"))
            padding = [d * (k - 1) // 2 for d, k in zip(dilation, kernel, strict=True)]
        else:
            padding = list(pad_opt) * n if len(pad_opt) == 1 else list(pad_opt)
            if len(padding) != n or any(p < 0 for p in padding):
                b.fail("E136", f"padding needs {n} non-negative values", b.opts.span("padding"))
        out_pad = _per_axis(b, "output_padding", n, 0) if transposed else [0] * n
        for (axis, _, _), o, s, d in zip(spatial, out_pad, stride, dilation, strict=True):
            if o >= max(s, d):
                b.fail(
                    "E211",
                    f"output_padding {o} on axis '{axis}' must be smaller than its stride ({s}) or dilation ({d})",
                    b.opts.span("output_padding"),
                    "output_padding only picks among the output sizes one input size allows",
                )
        cin, cout = b.fixed(c_in), b.fixed(c_out)
        if groups < 1 or cin % groups or cout % groups:
            b.fail("E106", f"groups={groups} must divide both channel sizes ({cin} and {cout})", b.opts.span("groups"))
        sizes = []
        for (axis, _, _), k, s, p, d, op in zip(spatial, kernel, stride, padding, dilation, out_pad, strict=True):
            length = b.el.axes[axis].size
            if transposed:
                sizes.append((length - 1) * s - 2 * p + d * (k - 1) + op + 1)
            else:
                sizes.append((length + 2 * p - d * (k - 1) - 1) // s + 1)
        outs = _outputs(b, spatial, sizes)
        names = [a for a, _, _ in spatial]
        others = [a for a in x.axes if a != c_in and a not in names]
        b.not_on(x, outs, names)
        path = b.path()
        kernel_labels = [f"<kernel {a}>" for a in names]
        if transposed:
            w_axes, w_shape = [c_in, c_out] + kernel_labels, [cin, cout // groups] + kernel
            fan_in = (cout // groups) * _prod(kernel)
        else:
            w_axes, w_shape = [c_out, c_in] + kernel_labels, [cout, cin // groups] + kernel
            fan_in = (cin // groups) * _prod(kernel)
        init = _uniform(fan_in)
        params = [b.param(path, "weight", w_axes, w_shape, init)]
        bias = b.opts.get("bias")
        if bias:
            params.append(b.param(path, "bias", [c_out], [cout], init))
        attrs = {
            "in": c_in,
            "out": c_out,
            "spatial": [[a, o] for a, o in zip(names, outs, strict=True)],
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "bias": bias,
            "transposed": transposed,
            "output_padding": out_pad,
        }
        return b.add("conv", [x], others + [c_out] + outs, attrs=attrs, params=params, scope=path)

    return rule


def _bracket_text(b: Box, item: ast.BMap) -> str:
    """The source text of a bracket item (for hints)."""
    lines = b.el.sources.get(item.span.file) or []
    s = item.span
    if s.line == s.end_line and 0 < s.line <= len(lines):
        return lines[s.line - 1][s.col - 1 : s.end_col - 1]
    return "c -> d"


def _pool(op: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        spatial = _spatial(b, b.maps(), x)
        n = len(spatial)
        kernel = _per_axis(b, "kernel", n, 1)
        stride = _per_axis(b, "stride", n, 1) if b.opts.has("stride") else list(kernel)
        padding = _per_axis(b, "padding", n, 0)
        if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
            b.fail("E136", "pooling padding must be at most half the kernel", b.opts.span("padding"))
        sizes = [
            (b.el.axes[a].size + 2 * p - k) // s + 1
            for (a, _, _), k, s, p in zip(spatial, kernel, stride, padding, strict=True)
        ]
        outs = _outputs(b, spatial, sizes)
        names = [a for a, _, _ in spatial]
        b.not_on(x, outs, names)
        others = [a for a in x.axes if a not in names]
        attrs: dict[str, Any] = {
            "spatial": [[a, o] for a, o in zip(names, outs, strict=True)],
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
        }
        if op == "avgpool":
            attrs["count_include_pad"] = b.opts.get("count_include_pad")
        return b.add(op, [x], others + outs, attrs=attrs)

    return rule


def _upsample(b: Box) -> Value:
    (x,) = b.args
    spatial = _spatial(b, b.maps(), x)
    scale = _per_axis(b, "scale", len(spatial), 1)
    sizes = [b.el.axes[a].size * s for (a, _, _), s in zip(spatial, scale, strict=True)]
    outs = _outputs(b, spatial, sizes)
    names = [a for a, _, _ in spatial]
    b.not_on(x, outs, names)
    others = [a for a in x.axes if a not in names]
    attrs = {"spatial": [[a, o] for a, o in zip(names, outs, strict=True)], "scale": scale, "mode": b.opts.get("mode")}
    return b.add("upsample", [x], others + outs, attrs=attrs)


def _positions(b: Box) -> Value:
    (axis,) = b.flat_axes(exactly=1)
    if not b.args:
        return b.add("positions", [], [axis], attrs={"axis": axis}, dtype="int64", of=axis)
    (offset,) = b.args
    if offset.dtype != "int64":
        b.fail(
            "E182",
            f"the offset of positions[{axis}] must be an integer tensor; this one holds {_HOLDS[offset.dtype]}",
            b.call.args[0].span,
            "declare it `int[...]`, or convert with int(x)",
        )
    b.not_on(offset, [axis], [])
    axes = list(offset.axes) + [axis]
    return b.add("positions", [offset], axes, attrs={"axis": axis}, dtype="int64", of=axis)


def _cast(dtype: str) -> Callable[[Box], Value]:
    def rule(b: Box) -> Value:
        (x,) = b.args
        if x.dtype == dtype:
            what = {"float32": "float", "int64": "int"}[dtype]
            b.fail(
                "E183", f"'{b.name}' of a tensor that already holds {_HOLDS[dtype]}", b.call.span, f"drop {what}(...)"
            )
        return b.add("cast", [x], list(x.axes), dtype=dtype)

    return rule


def _clamp(b: Box) -> Value:
    (x,) = b.args
    lo, hi = b.opts.get("min"), b.opts.get("max")
    if lo is None and hi is None:
        b.fail("E139", "'clamp' needs option 'min' or 'max'", b.call.span, "e.g. clamp(x, min=0, max=6)")
    if lo is not None and hi is not None and lo > hi:
        b.fail("E136", f"clamp needs min <= max, got min={lo:g} and max={hi:g}", b.opts.span("max"))
    return b.add("clamp", [x], list(x.axes), attrs={"min": lo, "max": hi})


def _where(b: Box) -> Value:
    cond, then, otherwise = b.args
    if not isinstance(cond, Value) or cond.dtype != "bool":
        what = "a number" if not isinstance(cond, Value) else f"a tensor of {_HOLDS[cond.dtype]}"
        b.fail("E181", f"the condition of where must be a boolean tensor, not {what}", b.call.args[0].span, _TO_BOOL)
    branches = [v for v in (then, otherwise) if isinstance(v, Value)]
    for v, e in zip((then, otherwise), b.call.args[1:], strict=True):
        if isinstance(v, Value) and v.dtype == "bool":
            b.fail("E180", "the branches of where must hold numbers; this one holds booleans", e.span, _FROM_BOOL)
    axes = _aligned(b.el, "where", "where", [cond] + branches, b.env, b.call.span)
    if axes is None:
        raise BadOption
    dtype = _result_dtype("add", [then, otherwise])
    attrs = {
        "then": None if isinstance(then, Value) else then,
        "otherwise": None if isinstance(otherwise, Value) else otherwise,
    }
    return b.add("where", [cond] + branches, axes, attrs=attrs, dtype=dtype)


def _mask(b: Box) -> Value:
    x, m = b.args
    axes = b.flat_axes(at_least=1)
    if m.dtype != "bool":
        b.fail(
            "E181",
            f"the mask must be a boolean tensor; this one holds {_HOLDS[m.dtype]}",
            b.call.args[1].span,
            _TO_BOOL,
        )
    b.need(m, axes, 1)
    extra = [a for a in m.axes if a not in x.axes]
    if extra:
        b.fail(
            "E121",
            f"the mask has axes {fmt_axes(m.axes)}; the value {fmt_axes(x.axes)} lacks {', '.join(map(repr, extra))}",
            b.call.args[1].span,
            "a mask's axes are a subset of the value's",
        )
    value = b.opts.get("value") if b.opts.has("value") else float("-inf")
    return b.add("mask", [x, m], list(x.axes), attrs={"axes": axes, "value": value})


def _min_max(b: Box) -> Value:
    if b.call.brackets is not None:
        if len(b.args) != 1 or not isinstance(b.args[0], Value):
            b.fail("E130", f"'{b.name}[axes]' reduces one tensor: {b.name}[axis](x)", b.call.span)
        return _reduce(b.name)(b)
    if len(b.args) != 2:
        b.fail(
            "E138",
            f"'{b.name}' needs the axes it reduces in brackets, or two values to compare",
            b.call.func_span,
            f"e.g. {b.name}[axis](x), or {b.name}(a, b)",
        )
    if all(isinstance(a, float) for a in b.args):
        b.fail("E132", f"'{b.name}' needs a tensor here, not a number", b.call.args[0].span)
    for v, e in zip(b.args, b.call.args, strict=True):
        if isinstance(v, Value) and v.dtype == "bool":
            b.fail("E180", f"'{b.name}' needs numbers; this one holds booleans", e.span, _FROM_BOOL)
    op = {"min": "minimum", "max": "maximum"}[b.name]
    value = numeric(b.el, op, b.name, list(b.args), b.env, b.call.span, b.call.args[1].span)
    if value is POISON:
        raise BadOption
    return value


_CONV = {
    "kernel": Opt("ints"),
    "stride": Opt("ints", (1,)),
    "padding": Opt("padding", (0,)),
    "dilation": Opt("ints", (1,)),
    "groups": registry_opt("conv", "groups"),
    "bias": registry_opt("conv", "bias"),
}
_POOL = {"kernel": Opt("ints"), "stride": Opt("ints"), "padding": Opt("ints", (0,))}


def _from_registry(op: str, *attrs: str) -> dict[str, Opt]:
    """Options that set the given IR attributes of ``op``, defaults from the op registry."""
    return {attr: registry_opt(op, attr) for attr in attrs}


#: Every primitive box by name.
PRIMITIVES: dict[str, Prim] = {
    "linear": Prim(_linear, learned=True, options={**_from_registry("linear", "bias"), "init": Opt("init")}),
    "embed": Prim(
        _embed, options={"init": Opt("init", {"kind": "normal", "mean": 0.0, "std": 1.0})}, learned=True, takes_int=True
    ),
    "param": Prim(_param, learned=True, arity=(0, 0), options={"init": Opt("init", {"kind": "zeros"})}),
    "buffer": Prim(
        _buffer,
        arity=(0, 0),
        options={"init": Opt("init", {"kind": "zeros"}), **_from_registry("buffer", "persistent")},
    ),
    "contract": Prim(_contract, arity=(2, 2), brackets="optional"),
    "softmax": Prim(_softmax("softmax")),
    "logsoftmax": Prim(_softmax("logsoftmax")),
    "layernorm": Prim(_norm("layernorm"), learned=True, options=_from_registry("layernorm", "eps", "affine", "bias")),
    "rmsnorm": Prim(_norm("rmsnorm"), learned=True, options=_from_registry("rmsnorm", "eps", "affine")),
    "batchnorm": Prim(_batchnorm, learned=True, options=_from_registry("batchnorm", "eps", "momentum")),
    "groupnorm": Prim(_groupnorm, learned=True, options=_from_registry("groupnorm", "groups", "eps", "affine")),
    "dropout": Prim(_dropout, brackets="none", options=_from_registry("dropout", "p")),
    "causal": Prim(_causal),
    "cumsum": Prim(_cumsum),
    "argtopk": Prim(_argtopk, options=_from_registry("argtopk", "k")),
    "topk": Prim(_topk, options=_from_registry("argtopk", "k")),
    "gather": Prim(_gather, arity=(2, 2), takes_int=True),
    "scatter": Prim(_scatter, arity=(2, 2), takes_int=True),
    "moe": Prim(_moe, arity=(2, 2)),
    "scan": Prim(_scan, arity=(2, 2)),
    "sum": Prim(_reduce("sum")),
    "mean": Prim(_reduce("mean")),
    "max": Prim(_min_max, arity=(1, 2), brackets="optional", numbers=True),
    "min": Prim(_min_max, arity=(1, 2), brackets="optional", numbers=True),
    "positions": Prim(_positions, arity=(0, 1), takes_int=True),
    "slice": Prim(
        _slice,
        takes_int=True,
        takes_bool=True,
        options=_from_registry("slice", "start", "stop", "step"),
    ),
    "flip": Prim(_flip, takes_int=True, takes_bool=True),
    "roll": Prim(_roll, takes_int=True, takes_bool=True, options={"shift": Opt("int", 0)}),
    "pad": Prim(_pad, options=_from_registry("pad", "before", "after", "mode", "value")),
    "float": Prim(_cast("float32"), brackets="none", takes_int=True, takes_bool=True),
    "int": Prim(_cast("int64"), brackets="none", takes_int=True, takes_bool=True),
    "clamp": Prim(_clamp, brackets="none", options=_from_registry("clamp", "min", "max")),
    "where": Prim(_where, arity=(3, 3), brackets="none", takes_int=True, takes_bool=True, numbers=True),
    "mask": Prim(_mask, arity=(2, 2), takes_bool=True, options={"value": registry_opt("mask", "value")}),
    "rename": Prim(_rename, takes_int=True, takes_bool=True),
    "split": Prim(_split),
    "merge": Prim(_merge),
    "concat": Prim(_concat, arity=(2, None)),
    "select": Prim(_select, options=_from_registry("select", "index"), takes_int=True),
    "conv": Prim(_conv(False), learned=True, options=_CONV),
    "conv_transpose": Prim(_conv(True), learned=True, options={**_CONV, "output_padding": Opt("ints", (0,))}),
    "maxpool": Prim(_pool("maxpool"), options=_POOL),
    "avgpool": Prim(_pool("avgpool"), options={**_POOL, **_from_registry("avgpool", "count_include_pad")}),
    "upsample": Prim(_upsample, options={"scale": Opt("ints", (2,)), **_from_registry("upsample", "mode")}),
}
for _op in ("relu", "silu", "tanh", "sigmoid", "exp", "log", "sqrt", "abs", "sin", "cos", "floor", "softplus"):
    PRIMITIVES[_op] = Prim(_unary(_op), brackets="none")
for _op in ("hardswish", "hardsigmoid", "relu6"):
    PRIMITIVES[_op] = Prim(_unary(_op), brackets="none")
PRIMITIVES["gelu"] = Prim(_unary("gelu"), brackets="none", options=_from_registry("gelu", "approximate"))

#: Functions that also work on plain numbers (``sqrt(head)``).
SCALAR_FNS: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "abs": abs,
    "tanh": math.tanh,
    "sin": math.sin,
    "cos": math.cos,
    "floor": lambda v: float(math.floor(v)),
}

_BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}


def call_primitive(el: Elaborator, call: ast.Call, env: Env, assign: str | None) -> Result:
    """Check one primitive call and add its node."""
    prim = PRIMITIVES[call.func]
    args = [el.eval(a, env) for a in call.args]
    if call.func in SCALAR_FNS and len(args) == 1 and isinstance(args[0], float) and not call.brackets:
        try:
            value = SCALAR_FNS[call.func](args[0])
        except (ValueError, OverflowError):
            if el.reads_opaque(call.args[0], env):
                return 1.0
            return el.error("E128", f"{call.func}({args[0]:g}) is undefined", call.span)
        return float(value)
    tie = None
    tie_kw = next((k for k in call.kwargs if k.name == "tie"), None)
    if tie_kw is not None and prim.learned:
        call = dataclasses.replace(call, kwargs=[k for k in call.kwargs if k is not tie_kw])
        target = tie_kw.value.name if isinstance(tie_kw.value, ast.Name) else None
        tie = env.instances.get(target) if target else None
        if tie is None:
            hint = did_you_mean(target or "", env.instances) or "label the instance to share with `... as name`"
            return el.error("E162", f"`tie=` names no instance here: '{target}'", tie_kw.value.span, hint)
    opts = Options(el, call, env, prim.options)
    if call.brackets is not None and prim.brackets == "none":
        return el.error(
            "E132",
            f"'{call.func}' takes no brackets: it acts on every wire",
            call.brackets_span,
            f"write {call.func}(x)",
        )
    if call.brackets is None and prim.brackets == "required":
        if prim.arity == (0, 0):  # param: the brackets are its tensor's axes
            return el.error(
                "E138", f"'{call.func}' needs the axes of its tensor in brackets", call.func_span, _PARAM_HINT
            )
        return el.error(
            "E138", f"'{call.func}' needs the axes it acts on in brackets", call.func_span, f"e.g. {call.func}[axis](x)"
        )
    lo, hi = prim.arity
    if len(args) < lo or (hi is not None and len(args) > hi):
        want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
        hint, span = None, call.span
        extra = call.args[hi:] if hi is not None else []
        if extra and prim.options and all(isinstance(a, (ast.Number, ast.TupleExpr)) for a in extra):
            first = next((k for k, o in prim.options.items() if o.default is None), next(iter(prim.options)))
            hint = f"options are named: {call.func}(..., {first}=...); its options: {', '.join(prim.options)}"
            span = extra[0].span
        return el.error(
            "E130", f"'{call.func}' takes {want} tensor argument{'s' * (want != '1')}, got {len(args)}", span, hint
        )
    if not opts.ok or any(a is POISON for a in args):
        return POISON
    for a, e in zip(args, call.args, strict=True):
        if isinstance(a, float):
            if prim.numbers:
                continue
            return el.error("E132", f"'{call.func}' needs a tensor here, not a number", e.span)
        if a.dtype == "int64" and not prim.takes_int:
            indices = a.of and el.g.nodes[a.node]["op"] == "input"
            hint = (
                "embed integer tensors first: embed[vocab -> features](ids)" if indices else "convert first: float(x)"
            )
            return el.error("E146", f"'{call.func}' needs a float tensor; this one holds integers", e.span, hint)
        if a.dtype == "bool" and not prim.takes_bool:
            return el.error("E180", f"'{call.func}' needs numbers; this tensor holds booleans", e.span, _FROM_BOOL)
    ties = len(env.ties)
    try:
        return prim.rule(Box(el, call, env, args, opts, assign, tie))
    except BadOption:
        return POISON
    finally:
        del env.ties[ties:]


def elementwise(el: Elaborator, op: str, x: Value, env: Env, span: Span, attrs: dict[str, Any] | None = None) -> Result:
    """A one-input elementwise node (``-x``, ``not m``)."""
    if op == "not":
        if x.dtype != "bool":
            return el.error("E181", f"`not` needs a boolean tensor; this one holds {_HOLDS[x.dtype]}", span, _TO_BOOL)
        return el.add(op, [x], list(x.axes), env, span, dtype="bool")
    if x.dtype == "bool":
        return el.error("E180", "arithmetic needs numbers; this tensor holds booleans", span, _FROM_BOOL)
    return el.add(op, [x], list(x.axes), env, span, attrs=attrs or {}, dtype=x.dtype)


_HOLDS = {"float32": "floats", "int64": "integers", "bool": "booleans"}
_TO_BOOL = "compare to make booleans: x > 0"
_FROM_BOOL = "select with where(m, a, b), or convert with float(m)"
_COMPARE = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
_LOGICAL = {"and": "and", "or": "or"}


def _result_dtype(op: str, sides: list[Value | float]) -> str:
    """The dtype of ``a op b``: bool for comparisons, int64 when integers stay integers, else float32."""
    if op in _COMPARE.values():
        return "bool"
    ints = all(isinstance(v, Value) and v.dtype == "int64" or isinstance(v, float) and v == int(v) for v in sides)
    return "int64" if ints and op in ("add", "sub", "mul", "minimum", "maximum") else "float32"


def binary(el: Elaborator, e: ast.BinOp, left: Result, right: Result, env: Env) -> Result:
    """``a + b``, ``a < b``, ``a and b``: numbers fold, tensors align by axis name."""
    if left is POISON or right is POISON:
        return POISON
    if e.op in _LOGICAL:
        return _logical(el, e, left, right, env)
    op = _COMPARE.get(e.op) or _BINARY_OPS[e.op]
    if isinstance(left, float) and isinstance(right, float):
        if op in _COMPARE.values():
            return el.error(
                "E181",
                f"`{e.op}` between two numbers is decided before the model runs",
                e.span,
                "use a compile-time condition: if a < b { ... }",
            )
        culprit: ast.Expr = e
        try:
            value = {"add": left + right, "sub": left - right, "mul": left * right}.get(op)
            if op == "div":
                value = left / right
            elif op == "pow":
                value = left**right
        except ZeroDivisionError:
            value, culprit = math.nan, e.right
        except OverflowError:
            value = math.nan
        if isinstance(value, complex) or not math.isfinite(value):  # (-8) ** 0.5 is complex
            if el.reads_opaque(culprit, env):
                return 1.0
            return el.error("E128", f"{left:g} {e.op} {right:g} is undefined", e.span)
        return float(value)
    for side in (left, right):
        if isinstance(side, Value) and side.dtype == "bool" and op not in ("eq", "ne"):
            return el.error("E180", f"`{e.op}` needs numbers; one side holds booleans", e.span, _FROM_BOOL)
    return numeric(el, op, e.op, [left, right], env, e.span, e.right.span)


def numeric(
    el: Elaborator, op: str, symbol: str, sides: list[Value | float], env: Env, span: Span, right_span: Span
) -> Result:
    """A two-sided elementwise op (arithmetic, comparison, min/max): a tensor and a constant, or two tensors."""
    left, right = sides
    dtype = _result_dtype(op, sides)
    if isinstance(left, float) or isinstance(right, float):
        tensor = right if isinstance(left, float) else left
        const = left if isinstance(left, float) else right
        if op == "pow" and isinstance(left, float):
            return el.error("E129", "a number raised to a tensor is not supported; write exp(x * log(a))", span)
        attrs = {"const": const, "const_left": isinstance(left, float)}
        return el.add(op, [tensor], list(tensor.axes), env, span, name=op, attrs=attrs, dtype=dtype)
    if op == "pow":
        return el.error("E129", "`**` needs a number exponent", right_span)
    axes = _aligned(el, op, symbol, [left, right], env, span, outer=op in _COMPARE.values())
    if axes is None:
        return POISON
    return el.add(op, [left, right], axes, env, span, attrs={"const": None, "const_left": False}, dtype=dtype)


def _aligned(
    el: Elaborator, op: str, symbol: str, values: list[Value], env: Env, span: Span, outer: bool = False
) -> list[str] | None:
    """The axes of a result aligning ``values`` by name: those of the one whose axes include all others'.

    With ``outer`` (comparisons, logic) any axes combine: the first value's, then each next one's new axes.
    """
    for v in values:
        if all(set(v.axes) >= set(w.axes) for w in values):
            return list(v.axes)
    if outer:
        return list(dict.fromkeys(a for v in values for a in v.axes))
    left, right = values[0], values[-1]
    a, b = set(left.axes), set(right.axes)
    only_l = [x for x in left.axes if x not in b]
    only_r = [x for x in right.axes if x not in a]
    clash = f"{fmt_axes(left.axes)} {symbol} {fmt_axes(right.axes)}"
    el.error_box(op, [(v, clash) for v in values], env, span)
    el.error(
        "E120",
        f"axis mismatch in `{symbol}`: {fmt_axes(left.axes)} and {fmt_axes(right.axes)}",
        span,
        f"{', '.join(repr(x) for x in only_l)} only on the left, {', '.join(repr(x) for x in only_r)} only on the right; "
        "one side's axes must include the other's (rename or project first)",
    )
    return None


def _logical(el: Elaborator, e: ast.BinOp, left: Result, right: Result, env: Env) -> Result:
    for side, span in ((left, e.left.span), (right, e.right.span)):
        if isinstance(side, float):
            return el.error("E181", f"`{e.op}` needs boolean tensors, not a number", span, _TO_BOOL)
        if side.dtype != "bool":
            return el.error(
                "E181", f"`{e.op}` needs boolean tensors; this one holds {_HOLDS[side.dtype]}", span, _TO_BOOL
            )
    axes = _aligned(el, e.op, e.op, [left, right], env, e.span, outer=True)
    if axes is None:
        return POISON
    return el.add(_LOGICAL[e.op], [left, right], axes, env, e.span, dtype="bool")

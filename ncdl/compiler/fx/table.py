"""The torch lowering table: how each IR op becomes torch calls in a ``torch.fx`` graph.

The twin of :mod:`ncdl.compiler.onnx.table`. Every rule has the signature ``rule(lw, data, ins) -> fx.Node``: ``lw`` is
the :class:`~ncdl.compiler.fx.lower.FxEmitter`, ``data`` the IR node's
attributes and ``ins`` its inputs as ``(fx node, axes)`` pairs. A rule emits
the torch call for the box, plus permutes and reshapes only where the layout
demands them. :data:`RULES` maps every op of :data:`ncdl.ir.OPS` to its rule
and :data:`FUSED` every fused chain to its one; the rules for wiring and
arithmetic live here, learned ops in :mod:`ncdl.compiler.fx.learned`,
contractions in :mod:`ncdl.compiler.fx.contract`, fused attention in
:mod:`ncdl.compiler.fx.attention`, convolution, pooling and upsampling in
:mod:`ncdl.compiler.fx.spatial`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx import learned, runtime, spatial
from ncdl.compiler.fx.attention import attention
from ncdl.compiler.fx.contract import contract
from ncdl.compiler.fx.lower import FxEmitter, FxValue, Rule
from ncdl.compiler.fx.routing import routed_moe


# signature and wiring ---------------------------------------------------------
def _input(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    return lw.placeholders[data["attrs"]["name"]]


def _output(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    return lw.permute(x, axes, data["axes"], data["name"])


def _rename(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    return ins[0][0]


def _transpose(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    return lw.permute(x, axes, [axes[i] for i in data["attrs"]["perm"]], data["name"])


def _select(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    return lw.method("select", x, axes.index(a["axis"]), a["index"], name=data["name"])


def _slice(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    index = (slice(None),) * axes.index(a["axis"]) + (slice(a["start"], a["stop"], a["step"]),)
    return lw.call(operator.getitem, x, index, name=data["name"])


def _flip(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    return lw.call(torch.flip, x, [axes.index(a) for a in data["attrs"]["axes"]], name=data["name"])


def _roll(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    return lw.call(torch.roll, x, a["shift"], axes.index(a["axis"]), name=data["name"])


def _pad(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    dim = axes.index(a["axis"])
    return lw.call(runtime.pad_along, x, dim, a["before"], a["after"], a["mode"], a["value"], name=data["name"])


def _split(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    sizes = lw.view_sizes(a["into"], ins)
    return lw.method("unflatten", x, axes.index(a["axis"]), tuple(sizes), name=data["name"])


def _merge(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a, out = data["attrs"], data["axes"]
    at = out.index(a["into"])
    grouped = out[:at] + list(a["axes"]) + out[at + 1 :]
    x = lw.permute(x, axes, grouped, f"{data['name']}_t")
    return lw.method("flatten", x, at, at + len(a["axes"]) - 1, name=data["name"])


def _concat(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    a, out, name = data["attrs"], data["axes"], data["name"]
    if data.get("kv_cache"):  # past and new keys of a decoding step: appended in place when the cache has room
        parts = [lw.align((x, [a["into"] if ax == own else ax for ax in axes]), out, f"{name}_in")
                 for (x, axes), own in zip(ins, a["axes"], strict=True)]  # fmt: skip
        return lw.call(runtime.cache_append, *parts, out.index(a["into"]), name=name)
    parts = []
    for (x, axes), own in zip(ins, a["axes"], strict=True):
        renamed = [a["into"] if ax == own else ax for ax in axes]
        part = lw.align((x, renamed), out, f"{name}_in")
        missing = [ax for ax in out if ax not in renamed]
        if missing:
            others = [
                (v, [a["into"] if ax == o else ax for ax in axs]) for (v, axs), o in zip(ins, a["axes"], strict=True)
            ]
            sizes = [-1 if ax in renamed else lw.size(ax, others) for ax in out]
            part = lw.method("expand", part, *sizes, name=f"{name}_in")
        parts.append(part)
    return lw.call(torch.cat, parts, dim=out.index(a["into"]), name=name)


# arithmetic -------------------------------------------------------------------
def _binary(fn: Callable[[Any, Any], Any]) -> Rule:
    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        a, out, name = data["attrs"], data["axes"], data["name"]
        args = [lw.align(v, out, f"{name}_in") for v in ins]
        if len(args) == 1:
            const = _const(data)
            args = [const, args[0]] if a["const_left"] else [args[0], const]
        return lw.call(fn, *args, name=name)

    return rule


_plain_add = _binary(operator.add)


def _add(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """``a + b``, or ``operand.add_(other)`` where ``passes/inplace.py`` marked an operand it may overwrite."""
    port = data.get("inplace")
    if port is None:
        return _plain_add(lw, data, ins)
    out, name = data["axes"], data["name"]
    args = [lw.align(v, out, f"{name}_in") for v in ins]
    if args[port] is not ins[port][0]:  # aligned, so a view: not the pass's case; add out of place
        return lw.call(operator.add, *args, name=name)
    return lw.method("add_", args[port], args[1 - port], name=name)


def _const(data: dict[str, Any]) -> float | int:
    """The node's constant operand, an int when the node computes integers."""
    const = data["attrs"]["const"]
    return int(const) if data["dtype"] == "int64" else const


def _extremum(fn: Callable[..., Any], bound: str) -> Rule:
    """``torch.minimum``/``maximum`` of two tensors; against a constant, ``torch.clamp`` with that bound."""

    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        out, name = data["axes"], data["name"]
        args = [lw.align(v, out, f"{name}_in") for v in ins]
        if len(args) == 1:
            return lw.call(torch.clamp, args[0], name=name, **{bound: _const(data)})
        return lw.call(fn, *args, name=name)

    return rule


def _where(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    a, out, name = data["attrs"], data["axes"], data["name"]
    cond, *branches = (lw.align(v, out, f"{name}_in") for v in ins)
    picks = []
    for key in ("then", "otherwise"):
        const = a[key]
        picks.append(branches.pop(0) if const is None else int(const) if data["dtype"] == "int64" else const)
    return lw.call(torch.where, cond, *picks, name=name)


def _mask(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    (x, axes), m = ins
    keep = lw.align(m, axes, f"{data['name']}_m")
    y = lw.method(
        "masked_fill",
        x,
        lw.call(torch.logical_not, keep, name=f"{data['name']}_not"),
        data["attrs"]["value"],
        name=data["name"],
    )
    return lw.finish(y, axes, data)


def _clamp(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    bounds = {k: v for k, v in data["attrs"].items() if v is not None}
    return lw.finish(lw.call(torch.clamp, x, name=data["name"], **bounds), axes, data)


_TORCH_DTYPES = {"float32": torch.float32, "int64": torch.int64, "bool": torch.bool}


def _cast(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    return lw.finish(lw.method("to", x, _TORCH_DTYPES[data["dtype"]], name=data["name"]), axes, data)


def _positions(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """``arange`` of the axis's run-time size, on the device of the model's first input, plus the offset."""
    n = lw.size(data["attrs"]["axis"], ins)
    like = next(iter(lw.placeholders.values()), None)
    offset = [ins[0][0]] if ins else []
    return lw.call(runtime.positions, n, like, *offset, name=data["name"])


def _unary(fn: Callable[..., Any], **kwargs: Any) -> Rule:
    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        ((x, axes),) = ins
        return lw.finish(lw.call(fn, x, name=data["name"], **kwargs), axes, data)

    return rule


def _relu(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """``torch.relu``, or ``torch.relu_`` where ``passes/inplace.py`` allows it."""
    ((x, axes),) = ins
    fn = torch.relu_ if data.get("inplace") else torch.relu
    return lw.finish(lw.call(fn, x, name=data["name"]), axes, data)


def _gelu(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    approximate = data["attrs"]["approximate"]
    kwargs = {"approximate": approximate} if approximate != "none" else {}
    return lw.finish(lw.call(F.gelu, x, name=data["name"], **kwargs), axes, data)


def _softmax(fn: Callable[..., Any]) -> Rule:
    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        ((x, axes),) = ins
        y = lw.call(fn, x, dim=axes.index(data["attrs"]["axis"]), name=data["name"])
        return lw.finish(y, axes, data)

    return rule


def _reduce(fn: Callable[..., Any]) -> Rule:
    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        ((x, axes),) = ins
        over = data["attrs"]["axes"]
        dims = tuple(axes.index(ax) for ax in over)
        if not dims:
            return x
        y = lw.call(fn, x, dim=dims[0] if len(dims) == 1 else dims, name=data["name"])
        return lw.finish(y, [ax for ax in axes if ax not in over], data)

    return rule


def _causal(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    y = lw.call(runtime.causal_fill, x, axes.index(a["query"]), axes.index(a["key"]), name=data["name"])
    return lw.finish(y, axes, data)


def _cumsum(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    y = lw.call(torch.cumsum, x, axes.index(data["attrs"]["axis"]), name=data["name"])
    return lw.finish(y, axes, data)


def _scan(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """:func:`runtime.linear_scan` on the two inputs aligned to the output's layout."""
    out, name = data["axes"], data["name"]
    a, b = (lw.align(v, out, f"{name}_in") for v in ins)
    y = lw.call(runtime.linear_scan, a, b, out.index(data["attrs"]["axis"]), name=name)
    return lw.finish(y, out, data)


def _argtopk(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    y = lw.call(runtime.topk_indices, x, a["k"], axes.index(a["axis"]), name=data["name"])
    return lw.finish(y, [a["into"] if ax == a["axis"] else ax for ax in axes], data)


def _gather(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """:func:`runtime.gather_last` with ``x`` as ``[shared, rest, axis]`` and the indices as ``[shared, picked]``."""
    (x, x_axes), (idx, idx_axes) = ins
    axis, name = data["attrs"]["axis"], data["name"]
    shared = [a for a in idx_axes if a in x_axes]
    rest = [a for a in x_axes if a not in shared and a != axis]
    picked = [a for a in idx_axes if a not in shared]
    x = lw.permute(x, x_axes, [*shared, *rest, axis], f"{name}_x")
    idx = lw.permute(idx, idx_axes, [*shared, *picked], f"{name}_i")
    y = lw.call(runtime.gather_last, x, idx, len(shared), name=name)
    return lw.finish(y, [*shared, *rest, *picked], data)


def _scatter(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    (v, v_axes), (idx, idx_axes) = ins
    a, name = data["attrs"], data["name"]
    order = [*(ax for ax in v_axes if ax != a["axis"]), a["axis"]]
    v = lw.permute(v, v_axes, order, f"{name}_v")
    idx = lw.permute(idx, idx_axes, order, f"{name}_i")
    y = lw.call(runtime.scatter_last, v, idx, lw.g.graph["axes"][a["into"]].fixed, name=name)
    return lw.finish(y, [*order[:-1], a["into"]], data)


def _moe_dense(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """``sum[expert](gates * values)`` (the ``route_experts`` pass makes it sparse where it can)."""
    values, v_axes = ins[1]
    name = data["name"]
    y = lw.call(operator.mul, lw.align(ins[0], v_axes, f"{name}_g"), values, name=f"{name}_w")
    y = lw.call(torch.sum, y, dim=v_axes.index(data["attrs"]["axis"]), name=name)
    return lw.finish(y, [a for a in v_axes if a != data["attrs"]["axis"]], data)


def _dropout(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    y = lw.call(F.dropout, x, data["attrs"]["p"], training=lw.attr("training"), name=data["name"])
    return lw.finish(y, axes, data)


def _groupnorm(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """``torch.group_norm`` on ``[N, C, *axes]``: the axes passing by move first and become one N.

    Not ``F.group_norm``: its Python wrapper refuses an input whose groups hold one value each when N is 1
    (``groupnorm[c](v, groups=3)`` on ``v: [c]``), in eval mode too, although the result is well defined
    (the bias; onnxruntime gives it). The aten function it wraps computes it.
    """
    ((x, axes),) = ins
    a, name = data["attrs"], data["name"]
    batch = [ax for ax in axes if ax not in a["axes"]]
    order = [*batch, *a["axes"]]
    x = lw.permute(x, axes, order, f"{name}_in")
    if len(batch) != 1:  # F.group_norm wants exactly one leading batch dim
        x = (
            lw.method("unsqueeze", x, 0, name=f"{name}_n")
            if not batch
            else lw.method("flatten", x, 0, len(batch) - 1, name=f"{name}_n")
        )
    w, b = (lw.param(data, "weight"), lw.param(data, "bias")) if a["affine"] else (None, None)
    y = lw.call(torch.group_norm, x, a["groups"], w, b, a["eps"], True, name=name)
    if not batch:
        y = lw.method("squeeze", y, 0, name=f"{name}_out")
    elif len(batch) > 1:
        y = lw.method("unflatten", y, 0, tuple(lw.view_sizes(batch, ins)), name=f"{name}_out")
    return lw.finish(y, order, data)


#: THE torch lowering table: one rule per op of :data:`ncdl.ir.OPS`.
RULES: dict[str, Rule] = {
    "input": _input,
    "output": _output,
    "param": learned.param,
    "buffer": learned.param,
    "linear": learned.linear,
    "embed": learned.embed,
    "layernorm": learned.norm,
    "rmsnorm": learned.norm,
    "batchnorm": learned.batchnorm,
    "groupnorm": _groupnorm,
    "conv": spatial.conv,
    "contract": contract,
    "add": _add,
    "sub": _binary(operator.sub),
    "mul": _binary(operator.mul),
    "div": _binary(operator.truediv),
    "pow": _binary(operator.pow),
    "neg": _unary(operator.neg),
    "relu": _relu,
    "gelu": _gelu,
    "silu": _unary(F.silu),
    "tanh": _unary(torch.tanh),
    "sigmoid": _unary(torch.sigmoid),
    "exp": _unary(torch.exp),
    "log": _unary(torch.log),
    "sqrt": _unary(torch.sqrt),
    "abs": _unary(torch.abs),
    "sin": _unary(torch.sin),
    "cos": _unary(torch.cos),
    "floor": _unary(torch.floor),
    "softplus": _unary(F.softplus),
    "hardswish": _unary(F.hardswish),
    "hardsigmoid": _unary(F.hardsigmoid),
    "relu6": _unary(F.relu6),
    "clamp": _clamp,
    "cast": _cast,
    "positions": _positions,
    "minimum": _extremum(torch.minimum, "max"),
    "maximum": _extremum(torch.maximum, "min"),
    "lt": _binary(operator.lt),
    "le": _binary(operator.le),
    "gt": _binary(operator.gt),
    "ge": _binary(operator.ge),
    "eq": _binary(operator.eq),
    "ne": _binary(operator.ne),
    "and": _binary(operator.and_),
    "or": _binary(operator.or_),
    "not": _unary(torch.logical_not),
    "where": _where,
    "mask": _mask,
    "softmax": _softmax(F.softmax),
    "logsoftmax": _softmax(F.log_softmax),
    "dropout": _dropout,
    "causal": _causal,
    "cumsum": _cumsum,
    "argtopk": _argtopk,
    "gather": _gather,
    "scatter": _scatter,
    "moe": _moe_dense,
    "scan": _scan,
    "sum": _reduce(torch.sum),
    "mean": _reduce(torch.mean),
    "max": _reduce(torch.amax),
    "min": _reduce(torch.amin),
    "rename": _rename,
    "transpose": _transpose,
    "split": _split,
    "merge": _merge,
    "concat": _concat,
    "select": _select,
    "slice": _slice,
    "flip": _flip,
    "roll": _roll,
    "pad": _pad,
    "maxpool": spatial.pool("max"),
    "avgpool": spatial.pool("avg"),
    "upsample": spatial.upsample,
}

#: The lowering of each fused chain, by the ``kind`` of its ``fused`` mark (see :mod:`ncdl.compiler.pipeline`).
FUSED: dict[str, Rule] = {"attention": attention, "moe": routed_moe(RULES)}

"""How each IR op becomes torch calls in a ``torch.fx`` graph.

Every rule has the signature ``rule(lw, data, ins) -> fx.Node``: ``lw`` is
the :class:`~ncdl.compiler.fx_lower.Lowering`, ``data`` the IR node's
attributes and ``ins`` its inputs as ``(fx node, axes)`` pairs. A rule emits
the torch call for the box, plus permutes and reshapes only where the layout
demands them. :data:`RULES` maps every op of :data:`ncdl.ir.OPS` to its rule;
contractions live in :mod:`ncdl.compiler.fx_contract`, convolution, pooling
and upsampling in :mod:`ncdl.compiler.fx_spatial`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler import fx_runtime
from ncdl.compiler.fx_contract import attention, contract
from ncdl.compiler.fx_lower import Lowering, Rule, Value
from ncdl.compiler.fx_spatial import conv, pool, upsample


# signature and wiring ---------------------------------------------------------
def _output(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    return lw.permute(x, axes, data["axes"], data["name"])


def _rename(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    return ins[0][0]


def _transpose(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    return lw.permute(x, axes, [axes[i] for i in data["attrs"]["perm"]], data["name"])


def _select(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    return lw.method("select", x, axes.index(a["axis"]), a["index"], name=data["name"])


def _split(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    sizes = lw.view_sizes(a["into"], ins)
    return lw.method("unflatten", x, axes.index(a["axis"]), tuple(sizes), name=data["name"])


def _merge(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    a, out = data["attrs"], data["axes"]
    at = out.index(a["into"])
    grouped = out[:at] + list(a["axes"]) + out[at + 1 :]
    x = lw.permute(x, axes, grouped, f"{data['name']}_t")
    return lw.method("flatten", x, at, at + len(a["axes"]) - 1, name=data["name"])


def _concat(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    a, out, name = data["attrs"], data["axes"], data["name"]
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
    def rule(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
        a, out, name = data["attrs"], data["axes"], data["name"]
        args = [lw.align(v, out, f"{name}_in") for v in ins]
        if len(args) == 1:
            const = a["const"]
            args = [const, args[0]] if a.get("const_left") else [args[0], const]
        return lw.call(fn, *args, name=name)

    return rule


def _unary(fn: Callable[..., Any], **kwargs: Any) -> Rule:
    def rule(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
        ((x, axes),) = ins
        return lw.finish(lw.call(fn, x, name=data["name"], **kwargs), axes, data)

    return rule


def _relu(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    """``torch.relu``, or ``torch.relu_`` where ``passes/inplace_relu.py`` allows it."""
    ((x, axes),) = ins
    fn = torch.relu_ if data.get("inplace") else torch.relu
    return lw.finish(lw.call(fn, x, name=data["name"]), axes, data)


def _gelu(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    approximate = data["attrs"].get("approximate") or "none"
    kwargs = {"approximate": approximate} if approximate != "none" else {}
    return lw.finish(lw.call(F.gelu, x, name=data["name"], **kwargs), axes, data)


def _softmax(fn: Callable[..., Any]) -> Rule:
    def rule(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
        ((x, axes),) = ins
        y = lw.call(fn, x, dim=axes.index(data["attrs"]["axis"]), name=data["name"])
        return lw.finish(y, axes, data)

    return rule


def _reduce(fn: Callable[..., Any]) -> Rule:
    def rule(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
        ((x, axes),) = ins
        over = data["attrs"]["axes"]
        dims = tuple(axes.index(ax) for ax in over)
        if not dims:
            return x
        y = lw.call(fn, x, dim=dims[0] if len(dims) == 1 else dims, name=data["name"])
        return lw.finish(y, [ax for ax in axes if ax not in over], data)

    return rule


def _causal(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    y = lw.call(fx_runtime.causal_fill, x, axes.index(a["query"]), axes.index(a["key"]), name=data["name"])
    return lw.finish(y, axes, data)


def _dropout(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    y = lw.call(F.dropout, x, data["attrs"]["p"], training=lw.attr("training"), name=data["name"])
    return lw.finish(y, axes, data)


# learned ------------------------------------------------------------------------
def _param(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    # the box's one tensor, whatever its key ("weight", or "" for a bare nn.Parameter)
    (spec,) = data["params"]
    w = lw.attr(spec["name"])
    for dim, ax in enumerate(data["axes"]):
        axis = lw.g.graph["axes"][ax]
        if axis.fixed is None and all(lw.g.graph["bindings"].get(s) for s in axis.size.symbols()):
            w = lw.method("narrow", w, dim, 0, lw.size_expr(axis.size), name=data["name"])
    return w


def _flat_weight(lw: Lowering, data: dict[str, Any], rows: int) -> fx.Node:
    """The weight as a matrix of ``rows`` rows (a view when already 2-D)."""
    w, shape = lw.param(data, "weight"), lw.param_shape(data, "weight")
    if len(shape) == 2 and shape[0] == rows:
        return w
    return lw.method("reshape", w, rows, math.prod(shape) // rows, name=f"{data['name']}_w")


def _linear(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    if data.get("siblings"):
        return _linear_siblings(lw, data, ins)
    ((x, axes),) = ins
    a, name = data["attrs"], data["name"]
    inn, out = list(a["in"]), list(a["out"])
    others = [ax for ax in axes if ax not in inn]
    x = lw.permute(x, axes, others + inn, f"{name}_in")
    if len(inn) > 1:
        x = lw.method("flatten", x, -len(inn), -1, name=f"{name}_in")
    shape = lw.param_shape(data, "weight")
    rows = math.prod(shape[: len(out)])
    w = _flat_weight(lw, data, rows)
    b = None
    if a.get("bias"):
        b = lw.param(data, "bias")
        if len(lw.param_shape(data, "bias")) != 1:
            b = lw.method("reshape", b, rows, name=f"{name}_b")
    y = lw.call(F.linear, x, w, b, name=name)
    if len(out) != 1:
        y = lw.method("unflatten", y, -1, tuple(shape[: len(out)]), name=name)
    return lw.finish(y, others + out, data)


def _linear_siblings(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    """One ``F.linear`` for linears marked by ``passes/linear_siblings.py``; sets each member's value."""
    ((x, axes),) = ins
    inn, name = list(data["attrs"]["in"]), data["name"]
    others = [ax for ax in axes if ax not in inn]
    x = lw.permute(x, axes, others + inn, f"{name}_in")
    if len(inn) > 1:
        x = lw.method("flatten", x, -len(inn), -1, name=f"{name}_in")
    members = [lw.g.nodes[m] for m in data["siblings"]]
    shapes = [lw.param_shape(m, "weight")[: len(m["attrs"]["out"])] for m in members]
    rows = [math.prod(shape) for shape in shapes]
    w = lw.call(torch.cat, [_flat_weight(lw, m, r) for m, r in zip(members, rows, strict=True)], name=f"{name}_w")
    b = None
    if data["attrs"].get("bias"):
        parts = [
            lw.method("reshape", lw.param(m, "bias"), r, name=f"{name}_b") for m, r in zip(members, rows, strict=True)
        ]
        b = lw.call(torch.cat, parts, name=f"{name}_b")
    ys = lw.method("split", lw.call(F.linear, x, w, b, name=name), rows, -1, name=name)
    for i, (node, member, shape) in enumerate(zip(data["siblings"], members, shapes, strict=True)):
        y = lw.call(operator.getitem, ys, i, name=member["name"])
        if len(shape) != 1:
            y = lw.method("unflatten", y, -1, tuple(shape), name=member["name"])
        lw.values[node] = lw.finish(y, others + list(member["attrs"]["out"]), member)
    return lw.values[data["siblings"][0]]


def _embed(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    out, name = list(data["attrs"]["out"]), data["name"]
    shape = lw.param_shape(data, "weight")
    y = lw.call(F.embedding, x, _flat_weight(lw, data, shape[0]), name=name)
    if not out:
        y = lw.method("squeeze", y, -1, name=name)
    elif len(out) > 1:
        y = lw.method("unflatten", y, -1, tuple(shape[1:]), name=name)
    return lw.finish(y, axes + out, data)


def _norm_layout(lw: Lowering, x: fx.Node, axes: list[str], normed: list[str], name: str) -> tuple[fx.Node, list[str]]:
    order = [ax for ax in axes if ax not in normed] + normed
    return lw.permute(x, axes, order, f"{name}_in"), order


def _norm(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    """layernorm (``F.layer_norm``) or rmsnorm (``F.rms_norm``, which has no bias)."""
    ((x, axes),) = ins
    a, name = data["attrs"], data["name"]
    normed = list(a["axes"])
    x, order = _norm_layout(lw, x, axes, normed, name)
    shape = tuple(lw.size(ax, ins) for ax in normed)
    affine = a.get("affine", True)
    w = lw.param(data, "weight") if affine else None
    if data["op"] == "rmsnorm":
        y = lw.call(F.rms_norm, x, shape, w, a["eps"], name=name)
    else:
        b = lw.param(data, "bias") if affine and a.get("bias", True) else None
        y = lw.call(F.layer_norm, x, shape, w, b, a["eps"], name=name)
    return lw.finish(y, order, data)


def _batchnorm(lw: Lowering, data: dict[str, Any], ins: list[Value]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    args = [lw.param(data, k) for k in ("running_mean", "running_var", "weight", "bias", "num_batches_tracked")]
    y = lw.call(
        fx_runtime.batch_norm,
        x,
        axes.index(a["axis"]),
        *args,
        lw.attr("training"),
        a["momentum"],
        a["eps"],
        name=data["name"],
    )
    return lw.finish(y, axes, data)


RULES: dict[str, Rule] = {
    "output": _output,
    "param": _param,
    "linear": _linear,
    "embed": _embed,
    "layernorm": _norm,
    "rmsnorm": _norm,
    "batchnorm": _batchnorm,
    "conv": conv,
    "contract": contract,
    "attention": attention,
    "add": _binary(operator.add),
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
    "softmax": _softmax(F.softmax),
    "logsoftmax": _softmax(F.log_softmax),
    "dropout": _dropout,
    "causal": _causal,
    "sum": _reduce(torch.sum),
    "mean": _reduce(torch.mean),
    "max": _reduce(torch.amax),
    "rename": _rename,
    "transpose": _transpose,
    "split": _split,
    "merge": _merge,
    "concat": _concat,
    "select": _select,
    "maxpool": pool("max"),
    "avgpool": pool("avg"),
    "upsample": upsample,
}

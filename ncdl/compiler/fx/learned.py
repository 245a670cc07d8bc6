"""torch.fx lowerings of the learned ops: param, linear (and sibling linears), embed and the norms.

Parameters and buffers are ``get_attr`` nodes named by their IR parameter
names (see :mod:`ncdl.compiler.fx.weights`); a weight is reshaped only where
its stored shape differs from the matrix ``F.linear`` wants.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx import runtime
from ncdl.compiler.fx.lower import FxEmitter, FxValue


def param(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    # the box's one tensor, whatever its key ("weight", or "" for a bare nn.Parameter);
    # a buffer box's one buffer the same way
    (spec,) = data["params"] or data["buffers"]
    w = lw.attr(spec["name"])
    for dim, ax in enumerate(data["axes"]):
        axis = lw.g.graph["axes"][ax]
        if axis.fixed is None and all(lw.g.graph["bindings"].get(s) for s in axis.size.symbols()):
            w = lw.method("narrow", w, dim, 0, lw.size_expr(axis.size), name=data["name"])
    return w


def _flat_weight(lw: FxEmitter, data: dict[str, Any], rows: int) -> fx.Node:
    """The weight as a matrix of ``rows`` rows (a view when already 2-D)."""
    w, shape = lw.param(data, "weight"), lw.param_shape(data, "weight")
    if len(shape) == 2 and shape[0] == rows:
        return w
    return lw.method("reshape", w, rows, math.prod(shape) // rows, name=f"{data['name']}_w")


def linear(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
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
    if a["bias"]:
        b = lw.param(data, "bias")
        if len(lw.param_shape(data, "bias")) != 1:
            b = lw.method("reshape", b, rows, name=f"{name}_b")
    y = lw.call(F.linear, x, w, b, name=name)
    if len(out) != 1:
        y = lw.method("unflatten", y, -1, tuple(shape[: len(out)]), name=name)
    return lw.finish(y, others + out, data)


def _linear_siblings(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
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
    # the members' weights lie back to back in one storage: joining them is a view, not a copy
    w = lw.call(runtime.join_flat, *[lw.param(m, "weight") for m in members], name=f"{name}_w")
    w = lw.method("view", w, sum(rows), -1, name=f"{name}_w")
    b = None
    if data["attrs"]["bias"]:
        b = lw.call(runtime.join_flat, *[lw.param(m, "bias") for m in members], name=f"{name}_b")
    ys = lw.method("split", lw.call(F.linear, x, w, b, name=name), rows, -1, name=name)
    for i, (node, member, shape) in enumerate(zip(data["siblings"], members, shapes, strict=True)):
        y = lw.call(operator.getitem, ys, i, name=member["name"])
        if len(shape) != 1:
            y = lw.method("unflatten", y, -1, tuple(shape), name=member["name"])
        lw.values[node] = lw.finish(y, others + list(member["attrs"]["out"]), member)
    return lw.values[data["siblings"][0]]


def embed(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    out, name = list(data["attrs"]["out"]), data["name"]
    shape = lw.param_shape(data, "weight")
    y = lw.call(F.embedding, x, _flat_weight(lw, data, shape[0]), name=name)
    if not out:
        y = lw.method("squeeze", y, -1, name=name)
    elif len(out) > 1:
        y = lw.method("unflatten", y, -1, tuple(shape[1:]), name=name)
    return lw.finish(y, axes + out, data)


def _norm_layout(lw: FxEmitter, x: fx.Node, axes: list[str], normed: list[str], name: str) -> tuple[fx.Node, list[str]]:
    order = [ax for ax in axes if ax not in normed] + normed
    return lw.permute(x, axes, order, f"{name}_in"), order


def norm(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """layernorm (``F.layer_norm``) or rmsnorm (``F.rms_norm``, which has no bias)."""
    ((x, axes),) = ins
    a, name = data["attrs"], data["name"]
    normed = list(a["axes"])
    x, order = _norm_layout(lw, x, axes, normed, name)
    shape = tuple(lw.size(ax, ins) for ax in normed)
    affine = a["affine"]
    w = lw.param(data, "weight") if affine else None
    if data["op"] == "rmsnorm":
        y = lw.call(F.rms_norm, x, shape, w, a["eps"], name=name)
    else:
        b = lw.param(data, "bias") if affine and a["bias"] else None
        y = lw.call(F.layer_norm, x, shape, w, b, a["eps"], name=name)
    return lw.finish(y, order, data)


def batchnorm(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    ((x, axes),) = ins
    a = data["attrs"]
    args = [lw.param(data, k) for k in ("running_mean", "running_var", "weight", "bias", "num_batches_tracked")]
    y = lw.call(
        runtime.batch_norm,
        x,
        axes.index(a["axis"]),
        *args,
        lw.attr("training"),
        a["momentum"],
        a["eps"],
        name=data["name"],
    )
    return lw.finish(y, axes, data)

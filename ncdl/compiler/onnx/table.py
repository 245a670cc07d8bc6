"""The ONNX lowering table: :data:`RULES` (one rule per op) and the rules of the ops without weights.

The twin of :mod:`ncdl.compiler.fx.table`. Each rule receives the emitter, the IR node's data and its input tensors
(in port order) and returns a :class:`OnnxValue` carrying the node's axes, in
the node's layout or in another one that saved a transpose (consumers find
axes by name). Layout work is emitted only where the data needs it; see
:mod:`ncdl.compiler.onnx.lower`. Learned ops live in
:mod:`ncdl.compiler.onnx.learned`, contractions in :mod:`ncdl.compiler.onnx.contract`,
fused attention in :mod:`ncdl.compiler.onnx.attention`, spatial ops in
:mod:`ncdl.compiler.onnx.spatial`. An op whose ``native_opset`` (see
:mod:`ncdl.compiler.pipeline`) is above the lowest opset declares its
decomposition in :data:`DECOMPOSED`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ncdl.compiler.onnx.attention import causal_mask, lower_attention
from ncdl.compiler.onnx.contract import lower_contract
from ncdl.compiler.onnx.learned import (
    lower_batchnorm,
    lower_embed,
    lower_layernorm,
    lower_linear,
    lower_param,
    lower_rmsnorm,
)
from ncdl.compiler.onnx.lower import OnnxEmitter, OnnxValue, Rule, find_spec, hint
from ncdl.compiler.onnx.spatial import lower_avgpool, lower_conv, lower_maxpool, lower_upsample
from ncdl.compiler.pipeline import NATIVE_OPSET, OPSET_MAX, OPSET_MIN, is_native


# signature ------------------------------------------------------------------------
def lower_input(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """A graph input: the tensor named as the model's input."""
    return OnnxValue(data["attrs"]["name"], tuple(data["axes"]), data["dtype"])


def lower_output(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """A graph output: its input in the declared axis order, under the output's name."""
    (value,) = xs
    value = e.permute(value, data["axes"])
    name = data["attrs"]["name"]
    e.nodes.append(helper.make_node("Identity", [value.name], [name], name=e.fresh(f"output/{name}")))
    return OnnxValue(name, value.axes, value.dtype)


# elementwise ----------------------------------------------------------------------
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "minimum": "Min", "maximum": "Max"}
_COMPARE = {"lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "eq": "Equal", "ne": "Equal"}
_UNARY = {
    "neg": "Neg",
    "relu": "Relu",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "abs": "Abs",
    "sin": "Sin",
    "cos": "Cos",
    "floor": "Floor",
    "softplus": "Softplus",
    "hardswish": "HardSwish",
    "not": "Not",
}


def lower_binary(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``a op b`` aligned by axis name, or ``x op c`` / ``c op x`` with a constant."""
    attrs = data["attrs"]
    # keep the layout of an input that carries every axis, so that it is not moved
    full = [x.axes for x in xs if set(x.axes) == set(data["axes"])]
    target = full[0] if full else tuple(data["axes"])
    dtype = data["dtype"]
    operands = [e.align(e.cast(x, dtype), target).name for x in xs]
    if len(xs) == 1:
        const = e.const(attrs["const"], dtype)
        operands = [const, operands[0]] if attrs["const_left"] else [operands[0], const]
    if data["op"] == "pow" and dtype != "float32":
        operands[1] = e.op("Cast", [operands[1]], "exp", to=1)
    return OnnxValue(e.op(_BINARY[data["op"]], operands, hint(data)), target, dtype)


def _operands(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue], dtype: str) -> tuple[list[str], tuple]:
    """The inputs of an elementwise node in ``dtype``, aligned to the layout of the one carrying every axis."""
    full = [x.axes for x in xs if set(x.axes) == set(data["axes"])]
    target = full[0] if full else tuple(data["axes"])
    return [e.align(e.cast(x, dtype), target).name for x in xs], target


def lower_compare(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``a < b`` and the other comparisons (``!=`` is ``Not(Equal)``), on floats unless both sides are integers."""
    attrs = data["attrs"]
    kinds = {x.dtype for x in xs}
    const = attrs.get("const")
    if kinds == {"bool"}:
        dtype = "bool"
    elif kinds == {"int64"} and (const is None or const == int(const)):
        dtype = "int64"
    else:
        dtype = "float32"
    operands, target = _operands(e, data, xs, dtype)
    if len(xs) == 1:
        c = e.const(attrs["const"], dtype)
        operands = [c, operands[0]] if attrs["const_left"] else [operands[0], c]
    out = e.op(_COMPARE[data["op"]], operands, hint(data))
    if data["op"] == "ne":
        out = e.op("Not", [out], hint(data))
    return OnnxValue(out, target, "bool")


def lower_logical(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``a and b``, ``a or b`` on booleans aligned by name."""
    operands, target = _operands(e, data, xs, "bool")
    return OnnxValue(e.op({"and": "And", "or": "Or"}[data["op"]], operands, hint(data)), target, "bool")


def lower_where(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Where(cond, then, otherwise)``, a constant standing for a missing branch."""
    attrs, dtype = data["attrs"], data["dtype"]
    cond, *branches = xs
    full = [x.axes for x in xs if set(x.axes) == set(data["axes"])]
    target = full[0] if full else tuple(data["axes"])
    names = [e.align(cond, target).name]
    for key in ("then", "otherwise"):
        if attrs[key] is None:
            names.append(e.align(e.cast(branches.pop(0), dtype), target).name)
        else:
            names.append(e.const(attrs[key], dtype))
    return OnnxValue(e.op("Where", names, hint(data)), target, dtype)


def lower_mask(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``x`` where the mask is true, else ``value`` (a ``Where`` on the mask aligned to ``x``)."""
    x, m = xs
    keep = e.align(m, x.axes)
    y = e.op("Where", [keep.name, x.name, e.const(data["attrs"]["value"])], hint(data))
    return OnnxValue(y, x.axes)


def lower_clamp(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Clip`` with the bounds given (an absent bound is an empty input)."""
    (x,) = xs
    bounds = [e.const(data["attrs"][k]) if data["attrs"][k] is not None else "" for k in ("min", "max")]
    while bounds and not bounds[-1]:
        bounds.pop()
    return OnnxValue(e.op("Clip", [x.name, *bounds], hint(data)), x.axes)


def lower_relu6(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Clip(x, 0, 6)``."""
    (x,) = xs
    return OnnxValue(e.op("Clip", [x.name, e.const(0.0), e.const(6.0)], hint(data)), x.axes)


def lower_hardsigmoid(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``HardSigmoid`` with torch's slope 1/6 and offset 1/2."""
    (x,) = xs
    return OnnxValue(e.op("HardSigmoid", [x.name], hint(data), alpha=1.0 / 6.0, beta=0.5), x.axes)


def lower_cast(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Cast`` to the node's dtype (float to int truncates toward zero, as torch does)."""
    (x,) = xs
    return e.cast(x, data["dtype"])


def lower_positions(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Range(0, n)`` of the axis's run-time size, plus the offset broadcast along a new last dim."""
    axis = data["attrs"]["axis"]
    index = e.op("Range", [e.const(0, "int64"), e.scalar(e.axis_size(axis)), e.const(1, "int64")], f"{axis}_index")
    if not xs:
        return OnnxValue(index, (axis,), "int64")
    (offset,) = xs
    shifted = e.op("Add", [e.op("Unsqueeze", [offset.name, e.ints([-1])], "offset"), index], hint(data))
    return OnnxValue(shifted, (*offset.axes, axis), "int64")


def lower_unary(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """A one-input elementwise function."""
    (x,) = xs
    return OnnxValue(e.op(_UNARY[data["op"]], [x.name], hint(data)), x.axes, data["dtype"])


def lower_silu(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``x * sigmoid(x)``."""
    (x,) = xs
    return OnnxValue(e.op("Mul", [x.name, e.op("Sigmoid", [x.name], "sig")], hint(data)), x.axes)


def lower_gelu(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Gelu (opset 20+), else its erf or tanh formula."""
    (x,) = xs
    approximate = data["attrs"]["approximate"]
    if is_native("gelu", e.opset):
        return OnnxValue(e.op("Gelu", [x.name], hint(data), approximate=approximate), x.axes)
    if approximate == "tanh":
        cube = e.op("Mul", [e.op("Mul", [x.name, x.name], "x2"), x.name], "x3")
        inner = e.op("Add", [x.name, e.op("Mul", [cube, e.const(0.044715)], "c")], "inner")
        t = e.op("Tanh", [e.op("Mul", [inner, e.const(math.sqrt(2.0 / math.pi))], "scaled")], "tanh")
    else:
        t = e.op("Erf", [e.op("Div", [x.name, e.const(math.sqrt(2.0))], "scaled")], "erf")
    half = e.op("Mul", [x.name, e.const(0.5)], "half")
    return OnnxValue(e.op("Mul", [half, e.op("Add", [t, e.const(1.0)], "one_plus")], hint(data)), x.axes)


def lower_softmax(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Softmax / LogSoftmax along the named axis."""
    (x,) = xs
    op_type = "Softmax" if data["op"] == "softmax" else "LogSoftmax"
    return OnnxValue(e.op(op_type, [x.name], hint(data), axis=x.axes.index(data["attrs"]["axis"])), x.axes)


def lower_cumsum(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """CumSum along the named axis."""
    (x,) = xs
    axis = e.const(x.axes.index(data["attrs"]["axis"]), "int64")
    return OnnxValue(e.op("CumSum", [x.name, axis], hint(data)), x.axes, x.dtype)


def _scan_step_body() -> onnx.GraphProto:
    """The body of the recurrence's Scan: state ``h``, scanned ``a_t`` and ``b_t``; ``h' = a_t * h + b_t``, twice."""
    f = onnx.TensorProto.FLOAT
    nodes = [
        helper.make_node("Mul", ["a_t", "h"], ["a_h"], name="step/Mul"),
        helper.make_node("Add", ["a_h", "b_t"], ["h_next"], name="step/Add"),
        helper.make_node("Identity", ["h_next"], ["h_t"], name="step/Identity"),
    ]
    inputs = [helper.make_tensor_value_info(n, f, None) for n in ("h", "a_t", "b_t")]
    outputs = [helper.make_tensor_value_info(n, f, None) for n in ("h_next", "h_t")]
    return helper.make_graph(nodes, "scan_step", inputs, outputs)


def lower_scan(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """The linear recurrence as one ONNX ``Scan`` along the axis moved first: memory linear in its length.

    Both inputs are expanded to the output's shape; the state starts at zeros of one step's shape.
    """
    axis = data["attrs"]["axis"]
    order = [axis, *(a for a in data["axes"] if a != axis)]
    a, b = (e.align(x, order) for x in xs)
    wide = a if set(xs[0].axes) == set(order) else b
    full = e.op("Shape", [wide.name], "scan_shape")
    a_full, b_full = (x.name if x is wide else e.op("Expand", [x.name, full], "scan_in") for x in (a, b))
    step_shape = e.op("Slice", [full, e.ints([1]), e.ints([len(order)])], "step_shape")
    zero = helper.make_tensor("zero", onnx.TensorProto.FLOAT, [1], [0.0])
    h0 = e.op("ConstantOfShape", [step_shape], "h0", value=zero)
    _, h = e.ops("Scan", [h0, a_full, b_full], ["scan_last", hint(data)], body=_scan_step_body(), num_scan_inputs=2)
    return OnnxValue(h, tuple(order), "float32")


def lower_argtopk(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """TopK's indices (largest first, sorted)."""
    (x,) = xs
    a = data["attrs"]
    _, idx = e.ops(
        "TopK", [x.name, e.ints([a["k"]])], ["topv", hint(data)], axis=x.axes.index(a["axis"]), largest=1, sorted=1
    )
    return OnnxValue(idx, tuple(a["into"] if ax == a["axis"] else ax for ax in x.axes), "int64")


def _dims(e: OnnxEmitter, shape: str, start: int, stop: int) -> str:
    """``shape[start:stop]`` of a shape vector."""
    return e.op("Slice", [shape, e.ints([start]), e.ints([stop])], "dims")


def lower_gather(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """GatherElements along the last dim of ``x`` as ``[shared, rest, axis]``, the indices flattened to
    ``[shared, picked]`` and expanded over ``rest``; the picked dims restored after."""
    x, idx = xs
    axis = data["attrs"]["axis"]
    shared = [a for a in idx.axes if a in x.axes]
    rest = [a for a in x.axes if a not in shared and a != axis]
    picked = [a for a in idx.axes if a not in shared]
    x = e.permute(x, [*shared, *rest, axis])
    idx = e.permute(idx, [*shared, *picked])
    n, big = len(shared), 2**62
    x_shape, idx_shape = e.op("Shape", [x.name], "x_shape"), e.op("Shape", [idx.name], "idx_shape")
    flat_shape = e.op("Concat", [_dims(e, idx_shape, 0, n), e.ints([1] * len(rest) + [-1])], "flat_shape", axis=0)
    flat = e.op("Reshape", [idx.name, flat_shape], "flat_idx")
    wide = e.op(
        "Concat", [_dims(e, x_shape, 0, n + len(rest)), _dims(e, e.op("Shape", [flat], "fs"), -1, big)], "wide", axis=0
    )
    y = e.op("GatherElements", [x.name, e.op("Expand", [flat, wide], "idx_wide")], "gathered", axis=n + len(rest))
    out_shape = e.op("Concat", [_dims(e, x_shape, 0, n + len(rest)), _dims(e, idx_shape, n, big)], "out_shape", axis=0)
    y = e.op("Reshape", [y, out_shape], hint(data))
    return OnnxValue(y, (*shared, *rest, *picked), x.dtype)


def lower_scatter(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """ScatterElements with ``add`` into zeros, along the last dim."""
    v, idx = xs
    a = data["attrs"]
    order = [*(ax for ax in v.axes if ax != a["axis"]), a["axis"]]
    v, idx = e.permute(v, order), e.permute(idx, order)
    size = e.axes[a["into"]].fixed
    shape = e.op("Concat", [_dims(e, e.op("Shape", [v.name], "v_shape"), 0, len(order) - 1), e.ints([size])], axis=0)
    zero = helper.make_tensor("zero", onnx.TensorProto.FLOAT, [1], [0.0])
    zeros = e.op("ConstantOfShape", [shape], "zeros", value=zero)
    y = e.op("ScatterElements", [zeros, idx.name, v.name], hint(data), axis=len(order) - 1, reduction="add")
    return OnnxValue(y, (*order[:-1], a["into"]), "float32")


def lower_moe(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Dense in ONNX: ``ReduceSum(gates * values)`` over the expert axis. The gates are zero off the routed
    experts, so this equals the routed sum exactly (every expert computes on every row)."""
    gates, values = xs
    axis = data["attrs"]["axis"]
    weighted = e.op("Mul", [e.align(gates, values.axes).name, values.name], "weighted")
    y = e.reduce("ReduceSum", weighted, [values.axes.index(axis)], False, hint(data))
    return OnnxValue(y, tuple(a for a in values.axes if a != axis), "float32")


def lower_identity(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Dropout at inference: the input itself."""
    return xs[0]


def lower_causal(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``-inf`` where the key index exceeds the query index (Where on a Range-built mask)."""
    (x,) = xs
    mask = causal_mask(e, x, data["attrs"]["query"], data["attrs"]["key"])
    y = e.op("Where", [mask, e.const(-np.inf), x.name], hint(data))
    return OnnxValue(y, x.axes)


# reductions and wiring --------------------------------------------------------------
_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}


def lower_reduce(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Sum / mean / max over the named axes (they leave the layout)."""
    (x,) = xs
    axes = list(data["attrs"]["axes"])
    y = e.reduce(_REDUCE[data["op"]], x.name, [x.axes.index(a) for a in axes], False, hint(data))
    return OnnxValue(y, tuple(a for a in x.axes if a not in axes), x.dtype)


def lower_rename(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """New names on the same data."""
    (x,) = xs
    mapping = data["attrs"]["map"]
    return OnnxValue(x.name, tuple(mapping.get(a, a) for a in x.axes), x.dtype)


def lower_transpose(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """An explicit permutation."""
    (x,) = xs
    return e.permute(x, data["axes"], hint(data))


def lower_split(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Row-major unflatten of one axis into several, in place (a Reshape)."""
    (x,) = xs
    pos = x.axes.index(data["attrs"]["axis"])
    axes = list(x.axes[:pos]) + list(data["attrs"]["into"]) + list(x.axes[pos + 1 :])
    return e.reshape(x, axes, axes, hint(data))


def lower_merge(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Row-major flatten of several axes into one (a Transpose only when they are not adjacent, in order)."""
    (x,) = xs
    merged = list(data["attrs"]["axes"])
    first = x.axes.index(merged[0])
    before = [a for a in x.axes[:first] if a not in merged]
    after = [a for a in x.axes if a not in merged and a not in before]
    x = e.permute(x, before + merged + after)
    axes = before + [data["attrs"]["into"]] + after
    return e.reshape(x, axes, axes, hint(data))


def lower_concat(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Concat along ``into``; inputs lacking other output axes are broadcast (Expand) first."""
    attrs = data["attrs"]
    target = tuple(data["axes"])
    pos = target.index(attrs["into"])
    parts = []
    for x, axis in zip(xs, attrs["axes"], strict=True):
        layout = target[:pos] + (axis,) + target[pos + 1 :]
        y = e.align(x, layout)
        lacking = [i for i, a in enumerate(layout) if a not in x.axes]
        if lacking:
            dims = [a if i in lacking and a != axis else 1 for i, a in enumerate(layout)]
            shape = e.shape_vec(dims, [v for v in xs if v is not x], reshape=False)
            y = OnnxValue(e.op("Expand", [y.name, shape], "expand"), layout, y.dtype)
        parts.append(y.name)
    return OnnxValue(e.op("Concat", parts, hint(data), axis=pos), target, xs[0].dtype)


def lower_select(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """One index along an axis (the axis leaves)."""
    (x,) = xs
    axis = data["attrs"]["axis"]
    index = e.const(int(data["attrs"]["index"]), "int64")
    y = e.op("Gather", [x.name, index], hint(data), axis=x.axes.index(axis))
    return OnnxValue(y, tuple(a for a in x.axes if a != axis), x.dtype)


def lower_groupnorm(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """The group statistics from a ``[N, groups, rest]`` Reshape, centred before the variance is taken
    (ReduceMean of the squared deviations), then the per-channel scale and shift.

    Never ONNX's ``GroupNormalization``: onnxruntime computes its variance as E[x^2] - E[x]^2, which
    cancels catastrophically on a group with a large mean and a small spread.
    """
    (x,) = xs
    a = data["attrs"]
    (channel, *rest), groups, eps = a["axes"], a["groups"], float(a["eps"])
    batch = [ax for ax in x.axes if ax not in a["axes"]]
    n_dim, n_label = e.group(batch)
    x = e.permute(x, [*batch, channel, *rest])
    x = e.reshape(x, [n_dim, channel, *rest], [n_label, channel, *rest])
    c = e.axes[channel].fixed
    weight = e.weight(find_spec(data, "weight")) if a["affine"] else e.const(np.ones([c]))
    bias = e.weight(find_spec(data, "bias")) if a["affine"] else e.const(np.zeros([c]))
    per_group = e.axis_size(channel).exact_div(groups)
    for ax in rest:
        per_group = per_group * e.axis_size(ax)
    grouped = e.reshape(x, [n_dim, groups, per_group], [n_label, "<groups>", "<group>"])
    mean = e.reduce("ReduceMean", grouped.name, [2], True, "mean")
    centred = e.op("Sub", [grouped.name, mean], "centred")
    var = e.reduce("ReduceMean", e.op("Mul", [centred, centred], "sq"), [2], True, "var")
    std = e.op("Sqrt", [e.op("Add", [var, e.const(eps)], "var_eps")], "std")
    normed = OnnxValue(e.op("Div", [centred, std], "normed"), grouped.axes)
    y = e.reshape(normed, [n_dim, channel, *rest], x.axes)
    per_channel = [c] + [1] * len(rest)
    scale = e.op("Reshape", [weight, e.ints(per_channel)], "scale")
    shift = e.op("Reshape", [bias, e.ints(per_channel)], "shift")
    y = OnnxValue(e.op("Add", [e.op("Mul", [y.name, scale], hint(data)), shift], hint(data)), x.axes)
    return e.reshape(y, [*batch, channel, *rest])


_INT64_MAX, _INT64_MIN = 2**63 - 1, -(2**63)


def _slice_of(e: OnnxEmitter, x: OnnxValue, dim: int, start: int | str, stop: int | str, step: int = 1) -> str:
    """``Slice`` of one dim; bounds are ints (constants) or names of 1-D int64 tensors."""
    starts = e.ints([start]) if isinstance(start, int) else start
    ends = e.ints([stop]) if isinstance(stop, int) else stop
    return e.op("Slice", [x.name, starts, ends, e.ints([dim]), e.ints([step])], "slice")


def lower_slice(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Slice`` with Python's bounds (ONNX counts negative bounds from the end as Python does)."""
    (x,) = xs
    a = data["attrs"]
    stop = _INT64_MAX if a["stop"] is None else a["stop"]
    y = _slice_of(e, x, x.axes.index(a["axis"]), a["start"], stop, a["step"])
    return OnnxValue(y, tuple(a["into"] if ax == a["axis"] else ax for ax in x.axes), x.dtype)


def lower_flip(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Slice`` from the last entry backwards (step -1) on every flipped axis."""
    (x,) = xs
    dims = [x.axes.index(a) for a in data["attrs"]["axes"]]
    n = len(dims)
    inputs = [x.name, e.ints([-1] * n), e.ints([_INT64_MIN] * n), e.ints(dims), e.ints([-1] * n)]
    return OnnxValue(e.op("Slice", inputs, hint(data)), x.axes, x.dtype)


def lower_roll(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """The last ``shift mod n`` entries, then the rest (two ``Slice`` and a ``Concat``; ``n`` read at run time when free)."""
    (x,) = xs
    a = data["attrs"]
    dim = x.axes.index(a["axis"])
    n = e.axis_size(a["axis"])
    fixed = n.as_int()
    if fixed is not None:
        cut: int | str = fixed - a["shift"] % fixed
        if cut == fixed:
            return x
    else:
        size = e.size(n)
        cut = e.op("Sub", [size, e.op("Mod", [e.ints([a["shift"]]), size], "shift")], "cut")
    tail = _slice_of(e, x, dim, cut, _INT64_MAX)
    head = _slice_of(e, x, dim, 0, cut)
    return OnnxValue(e.op("Concat", [tail, head], hint(data), axis=dim), x.axes, x.dtype)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


def lower_pad(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``Pad`` along one dim (pads for every dim, so it is the same operator at every opset)."""
    (x,) = xs
    a = data["attrs"]
    dim = x.axes.index(a["axis"])
    pads = [0] * (2 * x.rank)
    pads[dim], pads[x.rank + dim] = a["before"], a["after"]
    inputs = [x.name, e.ints(pads)]
    if a["mode"] == "constant":
        inputs.append(e.const(a["value"]))
    y = e.op("Pad", inputs, hint(data), mode=_PAD_MODES[a["mode"]])
    return OnnxValue(y, tuple(a["into"] if ax == a["axis"] else ax for ax in x.axes), x.dtype)


#: THE ONNX lowering table: one rule per op of :data:`ncdl.ir.OPS`.
RULES: dict[str, Rule] = {
    "input": lower_input,
    "output": lower_output,
    "param": lower_param,
    "buffer": lower_param,
    "linear": lower_linear,
    "embed": lower_embed,
    "layernorm": lower_layernorm,
    "rmsnorm": lower_rmsnorm,
    "batchnorm": lower_batchnorm,
    "groupnorm": lower_groupnorm,
    "conv": lower_conv,
    "contract": lower_contract,
    **{op: lower_binary for op in _BINARY},
    **{op: lower_unary for op in _UNARY},
    **{op: lower_compare for op in _COMPARE},
    "and": lower_logical,
    "or": lower_logical,
    "where": lower_where,
    "mask": lower_mask,
    "clamp": lower_clamp,
    "relu6": lower_relu6,
    "hardsigmoid": lower_hardsigmoid,
    "cast": lower_cast,
    "positions": lower_positions,
    "gelu": lower_gelu,
    "silu": lower_silu,
    "softmax": lower_softmax,
    "logsoftmax": lower_softmax,
    "dropout": lower_identity,
    "causal": lower_causal,
    "cumsum": lower_cumsum,
    "argtopk": lower_argtopk,
    "gather": lower_gather,
    "scatter": lower_scatter,
    "moe": lower_moe,
    "scan": lower_scan,
    **{op: lower_reduce for op in _REDUCE},
    "rename": lower_rename,
    "transpose": lower_transpose,
    "split": lower_split,
    "merge": lower_merge,
    "concat": lower_concat,
    "select": lower_select,
    "slice": lower_slice,
    "flip": lower_flip,
    "roll": lower_roll,
    "pad": lower_pad,
    "maxpool": lower_maxpool,
    "avgpool": lower_avgpool,
    "upsample": lower_upsample,
}

#: The lowering of each fused chain, by the ``kind`` of its ``fused`` mark (see :mod:`ncdl.compiler.pipeline`).
FUSED: dict[str, Rule] = {"attention": lower_attention}

#: Ops whose rule writes a decomposition below their native opset (and the native operator from it).
DECOMPOSED: frozenset[str] = frozenset({"gelu", "rmsnorm"})


def opset_range(op: str) -> tuple[int, int] | None:
    """The opsets at which :data:`RULES` lowers ``op`` (None when it has no rule).

    From its ``native_opset`` up, or from the lowest opset when it has none or
    its rule declares a decomposition (:data:`DECOMPOSED`).
    """
    if op not in RULES:
        return None
    native = NATIVE_OPSET.get(op)
    low = OPSET_MIN if native is None or op in DECOMPOSED else max(native, OPSET_MIN)
    return low, OPSET_MAX

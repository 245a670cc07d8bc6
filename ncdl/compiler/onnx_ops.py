"""ONNX lowerings of the IR's ops: the table :data:`LOWER` and the ops without weights.

Each lowering receives the emitter, the IR node's data and its input tensors
(in port order) and returns a :class:`Value` carrying the node's axes, in
the node's layout or in another one that saved a transpose (consumers find
axes by name). Layout work is emitted only where the data needs it; see
:mod:`ncdl.compiler.onnx_emit`. Learned ops live in
:mod:`ncdl.compiler.onnx_learned`, spatial ones in :mod:`ncdl.compiler.onnx_spatial`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ncdl.compiler.onnx_emit import Emitter, Value, hint
from ncdl.compiler.onnx_learned import (
    lower_batchnorm,
    lower_embed,
    lower_layernorm,
    lower_linear,
    lower_param,
    lower_rmsnorm,
)
from ncdl.compiler.onnx_spatial import lower_avgpool, lower_conv, lower_maxpool, lower_upsample

Lowering = Callable[[Emitter, dict[str, Any], list[Value]], Value]


# contraction ---------------------------------------------------------------------
def lower_contract(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """A sum over ``over`` as one batched MatMul (``[S, M, K] @ [S, K, N]``); Mul when nothing is summed."""
    a, b = xs
    over = list(data["attrs"]["over"])
    # an axis summed that only one side carries is a plain reduction of that side
    a = _sum_out(e, a, [k for k in over if k in a.axes and k not in b.axes])
    b = _sum_out(e, b, [k for k in over if k in b.axes and k not in a.axes])
    over = [k for k in over if k in a.axes and k in b.axes]
    shared = [ax for ax in a.axes if ax in b.axes and ax not in over]
    m = [ax for ax in a.axes if ax not in shared and ax not in over]
    n = [ax for ax in b.axes if ax not in shared and ax not in over]
    target = tuple(data["axes"])
    if not over:
        ya, yb = e.align(a, target), e.align(b, target)
        return Value(e.op("Mul", [ya.name, yb.name], hint(data)), target, a.dtype)
    a = e.permute(a, shared + m + over)
    b = e.permute(b, shared + over + n)
    (m_dim, m_label), (k_dim, k_label), (n_dim, n_label) = e.group(m), e.group(over), e.group(n)
    a = e.reshape(a, shared + [m_dim, k_dim], shared + [m_label, k_label])
    b = e.reshape(b, shared + [k_dim, n_dim], shared + [k_label, n_label])
    y = Value(e.op("MatMul", [a.name, b.name], hint(data)), tuple(shared + [m_label, n_label]), a.dtype)
    if list(y.axes) == shared + m + n:
        return y
    return e.reshape(y, shared + m + n, shared + m + n)


def _sum_out(e: Emitter, x: Value, axes: list[str]) -> Value:
    if not axes:
        return x
    y = e.reduce("ReduceSum", x.name, [x.axes.index(a) for a in axes], False, "sum")
    return Value(y, tuple(a for a in x.axes if a not in axes), x.dtype)


# elementwise ----------------------------------------------------------------------
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow"}
_UNARY = {
    "neg": "Neg",
    "relu": "Relu",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "abs": "Abs",
}


def lower_binary(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """``a op b`` aligned by axis name, or ``x op c`` / ``c op x`` with a constant."""
    attrs = data["attrs"]
    # keep the layout of an input that carries every axis, so that it is not moved
    full = [x.axes for x in xs if set(x.axes) == set(data["axes"])]
    target = full[0] if full else tuple(data["axes"])
    dtype = data.get("dtype", "float32")
    operands = [e.align(e.cast(x, dtype), target).name for x in xs]
    if len(xs) == 1:
        const = e.const(attrs["const"], dtype)
        operands = [const, operands[0]] if attrs.get("const_left") else [operands[0], const]
    if data["op"] == "pow" and dtype != "float32":
        operands[1] = e.op("Cast", [operands[1]], "exp", to=1)
    return Value(e.op(_BINARY[data["op"]], operands, hint(data)), target, dtype)


def lower_unary(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """A one-input elementwise function."""
    (x,) = xs
    return Value(e.op(_UNARY[data["op"]], [x.name], hint(data)), x.axes, x.dtype)


def lower_silu(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """``x * sigmoid(x)``."""
    (x,) = xs
    return Value(e.op("Mul", [x.name, e.op("Sigmoid", [x.name], "sig")], hint(data)), x.axes)


def lower_gelu(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Gelu (opset 20+), else its erf or tanh formula."""
    (x,) = xs
    approximate = data["attrs"].get("approximate", "none")
    if e.opset >= 20:
        return Value(e.op("Gelu", [x.name], hint(data), approximate=approximate), x.axes)
    if approximate == "tanh":
        cube = e.op("Mul", [e.op("Mul", [x.name, x.name], "x2"), x.name], "x3")
        inner = e.op("Add", [x.name, e.op("Mul", [cube, e.const(0.044715)], "c")], "inner")
        t = e.op("Tanh", [e.op("Mul", [inner, e.const(math.sqrt(2.0 / math.pi))], "scaled")], "tanh")
    else:
        t = e.op("Erf", [e.op("Div", [x.name, e.const(math.sqrt(2.0))], "scaled")], "erf")
    half = e.op("Mul", [x.name, e.const(0.5)], "half")
    return Value(e.op("Mul", [half, e.op("Add", [t, e.const(1.0)], "one_plus")], hint(data)), x.axes)


def lower_softmax(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Softmax / LogSoftmax along the named axis."""
    (x,) = xs
    op_type = "Softmax" if data["op"] == "softmax" else "LogSoftmax"
    return Value(e.op(op_type, [x.name], hint(data), axis=x.axes.index(data["attrs"]["axis"])), x.axes)


def lower_identity(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Dropout at inference: the input itself."""
    return xs[0]


def causal_mask(e: Emitter, x: Value, query: str, key: str) -> str:
    """A bool tensor, true where key index > query index, broadcasting against ``x``."""
    iq, ik = x.axes.index(query), x.axes.index(key)
    first = min(iq, ik)
    rank = x.rank - first
    memo = ("causal", query, key, iq - first, ik - first, rank)
    if memo in e.memo:
        return e.memo[memo]
    ranges = []
    for axis, pos in ((query, iq), (key, ik)):
        r = e.op("Range", [e.const(0, "int64"), e.scalar(e.axis_size(axis)), e.const(1, "int64")], f"{axis}_index")
        others = [i for i in range(rank) if i != pos - first]
        ranges.append(e.op("Unsqueeze", [r, e.ints(others)], f"{axis}_index"))
    e.memo[memo] = e.op("Greater", [ranges[1], ranges[0]], "causal_mask")
    return e.memo[memo]


def lower_causal(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """``-inf`` where the key index exceeds the query index (Where on a Range-built mask)."""
    (x,) = xs
    mask = causal_mask(e, x, data["attrs"]["query"], data["attrs"]["key"])
    y = e.op("Where", [mask, e.const(-np.inf), x.name], hint(data))
    return Value(y, x.axes)


# reductions and wiring --------------------------------------------------------------
_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax"}


def lower_reduce(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Sum / mean / max over the named axes (they leave the layout)."""
    (x,) = xs
    axes = list(data["attrs"]["axes"])
    y = e.reduce(_REDUCE[data["op"]], x.name, [x.axes.index(a) for a in axes], False, hint(data))
    return Value(y, tuple(a for a in x.axes if a not in axes), x.dtype)


def lower_rename(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """New names on the same data."""
    (x,) = xs
    mapping = data["attrs"]["map"]
    return Value(x.name, tuple(mapping.get(a, a) for a in x.axes), x.dtype)


def lower_transpose(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """An explicit permutation."""
    (x,) = xs
    return e.permute(x, data["axes"], hint(data))


def lower_split(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Row-major unflatten of one axis into several, in place (a Reshape)."""
    (x,) = xs
    pos = x.axes.index(data["attrs"]["axis"])
    axes = list(x.axes[:pos]) + list(data["attrs"]["into"]) + list(x.axes[pos + 1 :])
    return e.reshape(x, axes, axes, hint(data))


def lower_merge(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """Row-major flatten of several axes into one (a Transpose only when they are not adjacent, in order)."""
    (x,) = xs
    merged = list(data["attrs"]["axes"])
    first = x.axes.index(merged[0])
    before = [a for a in x.axes[:first] if a not in merged]
    after = [a for a in x.axes if a not in merged and a not in before]
    x = e.permute(x, before + merged + after)
    axes = before + [data["attrs"]["into"]] + after
    return e.reshape(x, axes, axes, hint(data))


def lower_concat(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
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
            y = Value(e.op("Expand", [y.name, shape], "expand"), layout, y.dtype)
        parts.append(y.name)
    return Value(e.op("Concat", parts, hint(data), axis=pos), target, xs[0].dtype)


def lower_select(e: Emitter, data: dict[str, Any], xs: list[Value]) -> Value:
    """One index along an axis (the axis leaves)."""
    (x,) = xs
    axis = data["attrs"]["axis"]
    index = e.const(int(data["attrs"]["index"]), "int64")
    y = e.op("Gather", [x.name, index], hint(data), axis=x.axes.index(axis))
    return Value(y, tuple(a for a in x.axes if a != axis), x.dtype)


LOWER: dict[str, Lowering] = {
    "param": lower_param,
    "linear": lower_linear,
    "embed": lower_embed,
    "layernorm": lower_layernorm,
    "rmsnorm": lower_rmsnorm,
    "batchnorm": lower_batchnorm,
    "conv": lower_conv,
    "contract": lower_contract,
    **{op: lower_binary for op in _BINARY},
    **{op: lower_unary for op in _UNARY},
    "gelu": lower_gelu,
    "silu": lower_silu,
    "softmax": lower_softmax,
    "logsoftmax": lower_softmax,
    "dropout": lower_identity,
    "causal": lower_causal,
    **{op: lower_reduce for op in _REDUCE},
    "rename": lower_rename,
    "transpose": lower_transpose,
    "split": lower_split,
    "merge": lower_merge,
    "concat": lower_concat,
    "select": lower_select,
    "maxpool": lower_maxpool,
    "avgpool": lower_avgpool,
    "upsample": lower_upsample,
}

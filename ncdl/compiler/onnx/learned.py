"""ONNX lowerings of the learned ops: param, linear, embed and the norms.

Weights are initializers named by their parameter names, in torch's layout;
any reshape or transpose they need acts on constants, which onnxruntime
folds when the session starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ncdl.compiler.onnx.lower import OnnxEmitter, OnnxValue, find_spec, hint
from ncdl.compiler.pipeline import is_native


def lower_param(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """A stored weight, sliced to the run-time size along bounded free axes."""
    spec = find_spec(data, "weight") or (data["params"] or data["buffers"])[0]
    value = OnnxValue(e.weight(spec), tuple(data["axes"]))
    free = [i for i, a in enumerate(data["axes"]) if e.axes[a].fixed is None]
    if not free:
        return value
    ends = e.shape_vec([data["axes"][i] for i in free], [], reshape=False)
    sliced = e.op("Slice", [value.name, e.ints([0] * len(free)), ends, e.ints(free)], hint(data))
    fixed = [0 if i in free else e.axes[a].fixed for i, a in enumerate(data["axes"])]
    if 1 in fixed:
        # Slice with run-time ends loses every dim in shape inference; a size-1 dim then
        # broadcasts to an unknown one, and onnxruntime mis-infers a following Attention.
        # A Reshape (0 = keep) restores the fixed dims.
        sliced = e.op("Reshape", [sliced, e.ints(fixed)], hint(data))
    return OnnxValue(sliced, value.axes)


def lower_linear(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """``x @ W.T + b`` over the ``in`` axes; MatMul (Gemm for 2-D) on grouped dims."""
    (x,) = xs
    attrs = data["attrs"]
    ins, outs = list(attrs["in"]), list(attrs["out"])
    passing = [a for a in x.axes if a not in ins]
    x = e.permute(x, passing + ins)
    in_dim, in_label = e.group(ins)
    out_dim, out_label = e.group(outs)
    x = e.reshape(x, passing + [in_dim], passing + [in_label])
    spec = find_spec(data, "weight")
    assert spec is not None
    w = e.weight(spec)
    if len(spec["shape"]) != 2:
        w = e.op("Reshape", [w, e.shape_vec([out_dim, in_dim], [])], "w")
    bias_spec = find_spec(data, "bias") if attrs["bias"] else None
    bias = None
    if bias_spec is not None:
        bias = e.weight(bias_spec)
        if len(bias_spec["shape"]) != 1:
            bias = e.op("Reshape", [bias, e.shape_vec([out_dim], [])], "b")
    if x.rank == 2:
        y = e.op("Gemm", [x.name, w] + ([bias] if bias else []), hint(data), transB=1)
    else:
        y = e.op("MatMul", [x.name, e.op("Transpose", [w], "wt", perm=[1, 0])], hint(data))
        if bias:
            y = e.op("Add", [y, bias], hint(data))
    out = OnnxValue(y, tuple(passing + [out_label]))
    return e.reshape(out, passing + outs, passing + outs)


def lower_embed(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Rows of the ``[vocab, *out]`` table gathered by int64 indices."""
    (x,) = xs
    spec = find_spec(data, "weight")
    assert spec is not None
    y = e.op("Gather", [e.weight(spec), e.cast(x, "int64").name], hint(data), axis=0)
    return OnnxValue(y, x.axes + tuple(data["attrs"]["out"]))


def _weight_as(e: OnnxEmitter, spec: dict[str, Any], axes: list[str], target: tuple[str, ...]) -> str:
    """A per-axis weight (axes ``axes``) aligned to broadcast against ``target``."""
    return e.align(OnnxValue(e.weight(spec), tuple(axes)), target).name


def _trailing(x: OnnxValue, axes: list[str]) -> bool:
    return set(x.axes[x.rank - len(axes) :]) == set(axes)


def _all_fixed(e: OnnxEmitter, axes: list[str]) -> bool:
    """Whether every axis has a fixed size (so a constant scale of ones can stand in for a missing weight)."""
    return all(e.axes[a].fixed is not None for a in axes)


def lower_layernorm(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """LayerNormalization when the normalised axes trail; mean/var otherwise."""
    (x,) = xs
    attrs = data["attrs"]
    axes = list(attrs["axes"])
    eps = float(attrs["eps"])
    weight = find_spec(data, "weight") if attrs["affine"] else None
    bias = find_spec(data, "bias") if attrs["affine"] and attrs["bias"] else None
    if _trailing(x, axes) and (weight or _all_fixed(e, axes)):
        tail = x.axes[x.rank - len(axes) :]
        if weight:
            scale = _weight_as(e, weight, axes, tail)
        else:
            scale = e.const(np.ones([e.axes[a].fixed for a in tail]))
        inputs = [x.name, scale] + ([_weight_as(e, bias, axes, tail)] if bias else [])
        y = e.op("LayerNormalization", inputs, hint(data), axis=-len(axes), epsilon=eps)
        return OnnxValue(y, x.axes)
    dims = [x.axes.index(a) for a in axes]
    mean = e.reduce("ReduceMean", x.name, dims, True, "mean")
    centred = e.op("Sub", [x.name, mean], "centred")
    var = e.reduce("ReduceMean", e.op("Mul", [centred, centred], "sq"), dims, True, "var")
    std = e.op("Sqrt", [e.op("Add", [var, e.const(eps)], "var_eps")], "std")
    y = e.op("Div", [centred, std], hint(data))
    if weight:
        y = e.op("Mul", [y, _weight_as(e, weight, axes, x.axes)], hint(data))
    if bias:
        y = e.op("Add", [y, _weight_as(e, bias, axes, x.axes)], hint(data))
    return OnnxValue(y, x.axes)


def lower_rmsnorm(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """RMSNormalization (from its native opset) when the axes trail; ``x / sqrt(mean(x²) + eps)`` otherwise."""
    (x,) = xs
    attrs = data["attrs"]
    axes = list(attrs["axes"])
    eps = float(attrs["eps"])
    weight = find_spec(data, "weight") if attrs["affine"] else None
    if is_native("rmsnorm", e.opset) and _trailing(x, axes) and (weight or _all_fixed(e, axes)):
        tail = x.axes[x.rank - len(axes) :]
        scale = _weight_as(e, weight, axes, tail) if weight else e.const(np.ones([e.axes[a].fixed for a in tail]))
        y = e.op("RMSNormalization", [x.name, scale], hint(data), axis=-len(axes), epsilon=eps)
        return OnnxValue(y, x.axes)
    dims = [x.axes.index(a) for a in axes]
    ms = e.reduce("ReduceMean", e.op("Mul", [x.name, x.name], "sq"), dims, True, "ms")
    rms = e.op("Sqrt", [e.op("Add", [ms, e.const(eps)], "ms_eps")], "rms")
    y = e.op("Div", [x.name, rms], hint(data))
    if weight:
        y = e.op("Mul", [y, _weight_as(e, weight, axes, x.axes)], hint(data))
    return OnnxValue(y, x.axes)


def lower_batchnorm(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Inference-mode batch norm with the running statistics.

    BatchNormalization when the channel axis is dim 1; otherwise the same
    arithmetic broadcast in the tensor's own layout (no transpose).
    """
    (x,) = xs
    attrs = data["attrs"]
    channel = attrs["axis"]
    eps = float(attrs["eps"])
    mean_spec = find_spec(data, "running_mean", buffers=True)
    var_spec = find_spec(data, "running_var", buffers=True)
    weight, bias = find_spec(data, "weight"), find_spec(data, "bias")
    assert mean_spec is not None and var_spec is not None
    if x.rank >= 2 and x.axes[1] == channel and weight and bias:
        names = [x.name] + [e.weight(s) for s in (weight, bias, mean_spec, var_spec)]
        y = e.op("BatchNormalization", names, hint(data), epsilon=eps, momentum=float(attrs["momentum"]))
        return OnnxValue(y, x.axes)
    aligned = {k: _weight_as(e, s, [channel], x.axes) for k, s in (("mean", mean_spec), ("var", var_spec))}
    std = e.op("Sqrt", [e.op("Add", [aligned["var"], e.const(eps)], "var_eps")], "std")
    y = e.op("Div", [e.op("Sub", [x.name, aligned["mean"]], "centred"), std], hint(data))
    if weight:
        y = e.op("Mul", [y, _weight_as(e, weight, [channel], x.axes)], hint(data))
    if bias:
        y = e.op("Add", [y, _weight_as(e, bias, [channel], x.axes)], hint(data))
    return OnnxValue(y, x.axes)

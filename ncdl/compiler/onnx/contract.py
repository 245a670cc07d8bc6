"""ONNX lowering of ``contract``: one batched ``MatMul``, or ``Mul`` when nothing is summed."""

from __future__ import annotations

from typing import Any

from ncdl.compiler.onnx.lower import OnnxEmitter, OnnxValue, hint


def lower_contract(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
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
        return OnnxValue(e.op("Mul", [ya.name, yb.name], hint(data)), target, a.dtype)
    a = e.permute(a, shared + m + over)
    b = e.permute(b, shared + over + n)
    (m_dim, m_label), (k_dim, k_label), (n_dim, n_label) = e.group(m), e.group(over), e.group(n)
    a = e.reshape(a, shared + [m_dim, k_dim], shared + [m_label, k_label])
    b = e.reshape(b, shared + [k_dim, n_dim], shared + [k_label, n_label])
    y = OnnxValue(e.op("MatMul", [a.name, b.name], hint(data)), tuple(shared + [m_label, n_label]), a.dtype)
    if list(y.axes) == shared + m + n:
        return y
    return e.reshape(y, shared + m + n, shared + m + n)


def _sum_out(e: OnnxEmitter, x: OnnxValue, axes: list[str]) -> OnnxValue:
    if not axes:
        return x
    y = e.reduce("ReduceSum", x.name, [x.axes.index(a) for a in axes], False, "sum")
    return OnnxValue(y, tuple(a for a in x.axes if a not in axes), x.dtype)

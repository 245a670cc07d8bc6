"""FxEmitter of ``contract`` (matmul or einsum) and of fused attention (one SDPA call)."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx

from ncdl.compiler.fx.lower import FxEmitter, FxValue


def _operand(
    lw: FxEmitter,
    v: FxValue,
    batch: list[str],
    first: list[str],
    second: list[str],
    name: str,
    flatten_first: bool = True,
) -> fx.Node:
    """``v`` as ``batch + [prod first] + [prod second]``, moving data only if needed.

    With ``flatten_first=False`` the ``first`` axes stay separate leading dims
    (matmul broadcasts them against a 2-D right operand).
    """
    x, axes = v
    want = batch + first + second
    if axes == batch + second + first and len(first) == 1 and len(second) == 1:
        x = lw.method("transpose", x, -2, -1, name=f"{name}_t")
    else:
        x = lw.permute(x, axes, want, f"{name}_t")
    nb = len(batch)
    if len(first) > 1 and flatten_first:
        x = lw.method("flatten", x, nb, nb + len(first) - 1, name=f"{name}_f")
    if len(second) > 1:
        x = lw.method("flatten", x, -len(second), -1, name=f"{name}_f")
    return x


def contract(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    (a, aa), (b, ba) = ins
    over, name = list(data["attrs"]["over"]), data["name"]
    batch = [ax for ax in aa if ax in ba and ax not in over]
    m = [ax for ax in aa if ax not in ba and ax not in over]
    n = [ax for ax in ba if ax not in aa and ax not in over]
    k = [ax for ax in aa if ax in over]
    is_matmul = set(over) <= set(aa) & set(ba) and k and (not batch or (m and n))
    if not is_matmul:
        return _einsum(lw, data, ins)
    x = _operand(lw, (a, aa), batch, m, k, f"{name}_a", flatten_first=bool(batch))
    y = _operand(lw, (b, ba), batch, k, n, f"{name}_b")
    z = lw.call(torch.matmul, x, y, name=name)
    if len(m) > 1 and batch:
        z = lw.method("unflatten", z, len(batch), tuple(lw.view_sizes(m, ins)), name=name)
    if len(n) > 1:
        z = lw.method("unflatten", z, -1, tuple(lw.view_sizes(n, ins)), name=name)
    return lw.finish(z, batch + m + n, data)


def _einsum(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    letters: dict[str, str] = {}
    for _, axes in ins:
        for ax in axes:
            letters.setdefault(ax, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(letters)])
    spec = ",".join("".join(letters[ax] for ax in axes) for _, axes in ins)
    spec += "->" + "".join(letters[ax] for ax in data["axes"])
    return lw.call(torch.einsum, spec, *(x for x, _ in ins), name=data["name"])

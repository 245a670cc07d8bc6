"""FxEmitter of ``conv`` (and transposed), ``maxpool``/``avgpool`` and ``upsample``.

torch's kernels want ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``);
every other axis of the IR tensor is folded into those leading dims and
unfolded afterwards.
"""

from __future__ import annotations

from typing import Any

import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx import runtime
from ncdl.compiler.fx.lower import FxEmitter, FxValue, Rule


def _spatial_in(
    lw: FxEmitter, v: FxValue, channels: list[str], spatial: list[str], name: str
) -> tuple[fx.Node, list[str]]:
    """``v`` permuted to ``others + channels + spatial`` in dense memory; returns it and ``others``."""
    x, axes = v
    others = [ax for ax in axes if ax not in channels and ax not in spatial]
    moved = lw.permute(x, axes, others + channels + spatial, f"{name}_in")
    return lw.call(runtime.dense, moved, name=f"{name}_in"), others


def _fold(lw: FxEmitter, x: fx.Node, lead: int, lo: int, hi: int, name: str) -> fx.Node:
    """Bring the ``lead`` leading dims to between ``lo`` and ``hi``: flatten the first ones, or add 1s."""
    if lead > hi:
        x = lw.method("flatten", x, 0, lead - hi, name=f"{name}_in")
    for _ in range(lo - lead):
        x = lw.method("unsqueeze", x, 0, name=f"{name}_in")
    return x


def _unfold(
    lw: FxEmitter, y: fx.Node, others: list[str], lo: int, hi: int, carriers: list[FxValue], name: str
) -> fx.Node:
    """Undo :func:`_fold` on the result."""
    if len(others) > hi:
        folded = others[: len(others) - hi + 1]
        return lw.method("unflatten", y, 0, tuple(lw.view_sizes(folded, carriers)), name=name)
    for _ in range(lo - len(others)):
        y = lw.method("squeeze", y, 0, name=name)
    return y


_CONV = {
    (False, 1): F.conv1d,
    (False, 2): F.conv2d,
    (False, 3): F.conv3d,
    (True, 1): F.conv_transpose1d,
    (True, 2): F.conv_transpose2d,
    (True, 3): F.conv_transpose3d,
}


def conv(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    a, name = data["attrs"], data["name"]
    spatial_in = [s[0] for s in a["spatial"]]
    spatial_out = [s[1] for s in a["spatial"]]
    x, others = _spatial_in(lw, ins[0], [a["in"]], spatial_in, name)
    # conv takes (N, C, *spatial) or unbatched (C, *spatial): extra leading axes fold into N
    x = _fold(lw, x, len(others), 0, 1, name)
    w = lw.param(data, "weight")
    b = lw.param(data, "bias") if a["bias"] else None
    fn = _CONV[(a["transposed"], len(spatial_in))]
    stride, padding, dilation, groups = tuple(a["stride"]), tuple(a["padding"]), tuple(a["dilation"]), a["groups"]
    if a["transposed"]:
        output_padding = tuple(a["output_padding"])
        y = lw.call(fn, x, w, b, stride, padding, output_padding, groups, dilation, name=name)
    else:
        y = lw.call(fn, x, w, b, stride, padding, dilation, groups, name=name)
    y = _unfold(lw, y, others, 0, 1, ins, name)
    return lw.finish(y, others + [a["out"]] + spatial_out, data)


def pool(kind: str) -> Rule:
    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        a, name = data["attrs"], data["name"]
        spatial_in = [s[0] for s in a["spatial"]]
        x, others = _spatial_in(lw, ins[0], [], spatial_in, name)
        # pooling takes (N, C, *spatial) or (C, *spatial): other axes fold into N
        x = _fold(lw, x, len(others), 1, 2, name)
        nd = len(spatial_in)
        kernel, stride, padding = tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"])
        if kind == "max":
            fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
            y = lw.call(fn, x, kernel, stride, padding, name=name)
        else:
            include = a["count_include_pad"]
            y = lw.call(runtime.avg_pool, x, kernel, stride, padding, include, name=name)
        y = _unfold(lw, y, others, 1, 2, ins, name)
        return lw.finish(y, others + [s[1] for s in a["spatial"]], data)

    return rule


_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    a, name = data["attrs"], data["name"]
    spatial_in = [s[0] for s in a["spatial"]]
    x, others = _spatial_in(lw, ins[0], [], spatial_in, name)
    # interpolate needs (N, C, *spatial): other axes fold into N, missing ones are 1
    x = _fold(lw, x, len(others), 2, 2, name)
    nd = len(spatial_in)
    mode = "nearest" if a["mode"] == "nearest" else _LINEAR_MODES[nd]
    kwargs: dict[str, Any] = {"scale_factor": tuple(float(s) for s in a["scale"]), "mode": mode}
    if mode != "nearest":
        kwargs["align_corners"] = False
    y = lw.call(F.interpolate, x, name=name, **kwargs)
    y = _unfold(lw, y, others, 2, 2, ins, name)
    return lw.finish(y, others + [s[1] for s in a["spatial"]], data)

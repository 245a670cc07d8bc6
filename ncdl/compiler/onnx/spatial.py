"""ONNX lowerings of convolution, pooling and upsampling.

ONNX wants ``[N, C, *spatial]``: the axes that pass by are folded into N (and
C for ops without channels) with a reshape, or given unit dims, and unfolded
after.
"""

from __future__ import annotations

from typing import Any

from ncdl.compiler.onnx.lower import OnnxEmitter, OnnxValue, find_spec, hint


def _to_nc(e: OnnxEmitter, x: OnnxValue, lead: list[str], spatial: list[str], channel: str | None) -> OnnxValue:
    """``x`` as ``[N, C, *spatial]``: passing axes fold into N (and C when there is no channel)."""
    x = e.permute(x, lead + ([channel] if channel else []) + spatial)
    keep = 1 if channel else 2  # how many leading dims the ONNX op wants before C / the spatial dims
    if len(lead) <= keep:
        missing = keep - len(lead)
        if not missing:
            return x
        name = e.op("Unsqueeze", [x.name, e.ints(list(range(missing)))], "u")
        return OnnxValue(name, ("<1>",) * missing + x.axes, x.dtype)
    folded = lead[: len(lead) - keep + 1]
    n_dim, n_label = e.group(folded)
    rest = lead[len(folded) :] + ([channel] if channel else []) + spatial
    return e.reshape(x, [n_dim, *rest], [n_label, *rest])


def _from_nc(
    e: OnnxEmitter, y: OnnxValue, lead: list[str], produced: list[str], src: OnnxValue, keep: int
) -> OnnxValue:
    """Undo :func:`_to_nc` on a result ``[N, C', *spatial']``: back to ``lead + produced``."""
    target = tuple(lead + produced)
    if len(lead) <= keep:
        extra = keep - len(lead)
        if not extra:
            return OnnxValue(y.name, target, y.dtype)
        return OnnxValue(e.op("Squeeze", [y.name, e.ints(list(range(extra)))], "s"), target, y.dtype)
    shape = e.shape_vec(list(target), [y, src])
    return OnnxValue(e.op("Reshape", [y.name, shape], "r"), target, y.dtype)


def _spatial_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    pads = [int(p) for p in attrs["padding"]]
    out = {
        "kernel_shape": [int(k) for k in attrs["kernel"]],
        "strides": [int(s) for s in attrs["stride"]],
        "pads": pads + pads,
    }
    return out


def lower_conv(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Conv / ConvTranspose on ``[N, C, *spatial]`` (torch weight layout is ONNX's)."""
    (x,) = xs
    attrs = data["attrs"]
    ins = [pair[0] for pair in attrs["spatial"]]
    outs = [pair[1] for pair in attrs["spatial"]]
    lead = [a for a in x.axes if a not in ins and a != attrs["in"]]
    xn = _to_nc(e, x, lead, ins, attrs["in"])
    weight = find_spec(data, "weight")
    bias = find_spec(data, "bias") if attrs["bias"] else None
    assert weight is not None
    inputs = [xn.name, e.weight(weight)] + ([e.weight(bias)] if bias else [])
    kw = _spatial_attrs(attrs)
    kw["dilations"] = [int(d) for d in attrs["dilation"]]
    kw["group"] = int(attrs["groups"])
    if attrs["transposed"]:
        kw["output_padding"] = [int(p) for p in attrs["output_padding"]]
        y = e.op("ConvTranspose", inputs, hint(data), **kw)
    else:
        y = e.op("Conv", inputs, hint(data), **kw)
    yv = OnnxValue(y, (xn.axes[0], attrs["out"], *outs))
    return _from_nc(e, yv, lead, [attrs["out"], *outs], x, keep=1)


def _pool(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue], op_type: str, **extra: Any) -> OnnxValue:
    (x,) = xs
    attrs = data["attrs"]
    ins = [pair[0] for pair in attrs["spatial"]]
    outs = [pair[1] for pair in attrs["spatial"]]
    lead = [a for a in x.axes if a not in ins]
    xn = _to_nc(e, x, lead, ins, None)
    y = e.op(op_type, [xn.name], hint(data), **_spatial_attrs(attrs), **extra)
    yv = OnnxValue(y, xn.axes[:2] + tuple(outs))
    return _from_nc(e, yv, lead, outs, x, keep=2)


def lower_maxpool(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """MaxPool over the spatial axes; every other axis passes by."""
    return _pool(e, data, xs, "MaxPool")


def lower_avgpool(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """AveragePool over the spatial axes; every other axis passes by."""
    include = int(data["attrs"]["count_include_pad"])
    return _pool(e, data, xs, "AveragePool", count_include_pad=include)


def lower_upsample(e: OnnxEmitter, data: dict[str, Any], xs: list[OnnxValue]) -> OnnxValue:
    """Resize by integer scales: nearest (floor, asymmetric) or linear (half-pixel), as torch's interpolate."""
    (x,) = xs
    attrs = data["attrs"]
    ins = [pair[0] for pair in attrs["spatial"]]
    outs = [pair[1] for pair in attrs["spatial"]]
    lead = [a for a in x.axes if a not in ins]
    xn = _to_nc(e, x, lead, ins, None)
    scales = e.const([1.0, 1.0] + [float(s) for s in attrs["scale"]])
    if attrs["mode"] == "nearest":
        kw = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        kw = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    y = e.op("Resize", [xn.name, "", scales], hint(data), **kw)
    yv = OnnxValue(y, xn.axes[:2] + tuple(outs))
    return _from_nc(e, yv, lead, outs, x, keep=2)

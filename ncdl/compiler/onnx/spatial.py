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
    if attrs["mode"] != "nearest":
        return _upsample_linear(e, data, x)
    ins = [pair[0] for pair in attrs["spatial"]]
    outs = [pair[1] for pair in attrs["spatial"]]
    lead = [a for a in x.axes if a not in ins]
    xn = _to_nc(e, x, lead, ins, None)
    scales = e.const([1.0, 1.0] + [float(s) for s in attrs["scale"]])
    kw = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    y = e.op("Resize", [xn.name, "", scales], hint(data), **kw)
    yv = OnnxValue(y, xn.axes[:2] + tuple(outs))
    return _from_nc(e, yv, lead, outs, x, keep=2)


def _upsample_linear(e: OnnxEmitter, data: dict[str, Any], x: OnnxValue) -> OnnxValue:
    """Linear upsampling one spatial axis at a time, each a 2-D ``[rest, axis]`` Resize.

    Half-pixel linear interpolation is separable, so this is bi/trilinear
    upsampling. onnxruntime's linear Resize accepts only some layouts of a
    4-D or 5-D input, and its transpose optimizer moves neighbouring
    Transposes into the Resize (permuting its scales into one it refuses); a
    2-D Resize between Reshapes keeps every layout acceptable.
    """
    attrs = data["attrs"]
    y = x
    for (i, o), scale in zip(attrs["spatial"], attrs["scale"], strict=True):
        rest = [a for a in y.axes if a != i]
        n_dim, n_label = e.group(rest)
        flat = e.reshape(e.permute(y, [*rest, i]), [n_dim, i], [n_label, i])
        scales = e.const([1.0, float(scale)])
        kw = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        r = OnnxValue(e.op("Resize", [flat.name, "", scales], hint(data), **kw), (n_label, o), x.dtype)
        target = (*rest, o)
        y = (
            r
            if len(rest) == 1
            else OnnxValue(e.op("Reshape", [r.name, e.shape_vec(list(target), [r, x])], "r"), target, x.dtype)
        )
    outs = [pair[1] for pair in attrs["spatial"]]
    lead = [a for a in x.axes if a not in [pair[0] for pair in attrs["spatial"]]]
    return e.permute(y, lead + outs)

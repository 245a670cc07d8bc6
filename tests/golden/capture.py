"""Snapshot of what every bundled model compiles to: parameter names, ONNX graphs, outputs.

Run ``python tests/golden/capture.py`` to rewrite ``bundled.json`` after an
intended change to a lowering (``python tests/golden/capture.py swin`` captures
only the models of ``swin.ncd`` and keeps the others); ``tests/golden/test_golden.py`` compares the
current compiler with it, so a refactoring that changes any of these fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import onnx
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/arch_inputs.py (pytest has it on its pythonpath)

from arch_inputs import LARGE, sample_inputs  # noqa: E402

from ncdl import architectures  # noqa: E402

GOLDEN = HERE / "bundled.json"


def _attr(a: onnx.AttributeProto) -> str:
    value = onnx.helper.get_attribute_value(a)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, onnx.TensorProto):
        value = onnx.numpy_helper.to_array(value).tolist()
    if isinstance(value, float):
        value = round(value, 6)
    if isinstance(value, list):
        value = [round(v, 6) if isinstance(v, float) else v for v in value]
    return f"{a.name}={value}"


def onnx_lines(model: onnx.ModelProto) -> list[str]:
    """One line per graph input, output, initializer and node, in graph order."""
    g = model.graph
    lines = [f"opset {model.opset_import[0].version}"]
    for i in g.input:
        dims = [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        lines.append(f"input {i.name} {i.type.tensor_type.elem_type} {dims}")
    for o in g.output:
        dims = [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        lines.append(f"output {o.name} {o.type.tensor_type.elem_type} {dims}")
    for t in g.initializer:
        lines.append(f"init {t.name} {t.data_type} {list(t.dims)}")
    for n in g.node:
        attrs = " ".join(_attr(a) for a in n.attribute)
        lines.append(f"{n.op_type}({', '.join(n.input)}) -> {', '.join(n.output)} {attrs}".rstrip())
    return lines


def snapshot(name: str, model: str) -> dict[str, Any]:
    """What ``model`` of the bundled file ``name`` compiles to."""
    program = architectures.load(name)
    g = program.graph(model)
    params = [[p["name"], list(p["shape"])] for n in g.nodes for p in g.nodes[n]["params"] + g.nodes[n]["buffers"]]
    out: dict[str, Any] = {"params": sorted(params)}
    if model in LARGE:
        out["onnx"] = onnx_lines(program.to_onnx(model))
        return out
    torch.manual_seed(0)
    gm = program.to_torch(model).eval()
    out["state_dict"] = [[k, list(v.shape)] for k, v in gm.state_dict().items()]
    out["onnx"] = onnx_lines(program.to_onnx(model, state_dict=gm.state_dict()))
    with torch.no_grad():
        y = gm(*sample_inputs(g))
    ys = y if isinstance(y, tuple) else (y,)
    out["outputs"] = [
        {"shape": list(t.shape), "sum": float(t.double().sum()), "head": t.flatten()[:8].tolist()} for t in ys
    ]
    return out


def all_snapshots() -> dict[str, Any]:
    """Every bundled model's snapshot, keyed ``file/model``."""
    return {
        f"{name}/{model}": snapshot(name, model)
        for name in architectures.list_architectures()
        for model in architectures.load(name).models
    }


def update(names: list[str]) -> dict[str, Any]:
    """The stored snapshots with the models of the bundled files ``names`` captured afresh."""
    golden = json.loads(GOLDEN.read_text())
    for name in names:
        golden = {k: v for k, v in golden.items() if not k.startswith(f"{name}/")}
        golden.update({f"{name}/{model}": snapshot(name, model) for model in architectures.load(name).models})
    return golden


if __name__ == "__main__":
    # with file names (``swin convnext``) only their models are captured again
    snapshots = update(sys.argv[1:]) if sys.argv[1:] else all_snapshots()
    GOLDEN.write_text(json.dumps(snapshots, indent=0, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")

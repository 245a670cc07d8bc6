"""The ONNX backend: an IR graph to an ``onnx.ModelProto``, emitted with onnx.helper.

Never traces Python and never imports torch: every IR node is lowered by a
function of :data:`ncdl.compiler.onnx_ops.LOWER` (attention chains fuse into
``Attention`` at opset 23). Graph inputs and outputs keep the IR's names and
order; free axes become named dynamic dims; weights become initializers named
by their parameter names.

Example:
    >>> model = lower_onnx(program.graph(), opset=23)
    >>> save_onnx(model, "gpt.onnx")
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import onnx
from onnx import helper

import ncdl
from ncdl.compiler.onnx_attention import find_attention, lower_attention
from ncdl.compiler.onnx_emit import ONNX_DTYPES, Emitter, Value
from ncdl.compiler.onnx_ops import LOWER
from ncdl.compiler.onnx_weights import WeightSource
from ncdl.ir import all_buffers, all_params, node_inputs, topological
from ncdl.ir.sizes import Size

MIN_OPSET, MAX_OPSET = 17, 23
#: Models whose tensors exceed this many bytes are saved with external data (protobuf's limit is 2 GiB).
EXTERNAL_DATA_BYTES = 2**31 - 2**26


def lower_onnx(
    g: nx.MultiDiGraph, state_dict: Mapping[str, Any] | None = None, opset: int = 23, *, seed: int = 0
) -> onnx.ModelProto:
    """Lower an IR graph to an ONNX model.

    Args:
        g: the checked IR (see :mod:`ncdl.ir`).
        state_dict: weights by parameter name (torch tensors or numpy arrays);
            None draws fresh weights from each parameter's ``init`` (numpy,
            seeded with ``seed``).
        opset: the ONNX opset, 17 to 23. At 23 attention chains become
            ``Attention`` and rmsnorm ``RMSNormalization``; below, they are
            decomposed.

    Returns:
        The model; ``onnx.checker.check_model(model, full_check=True)`` passes.
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset} is not supported; choose {MIN_OPSET} to {MAX_OPSET}")
    e = Emitter(g, opset)
    e.weights = WeightSource(state_dict, seed)
    order = topological(g)
    for node in g.graph["inputs"] + g.graph["outputs"]:
        e.reserve(g.nodes[node]["attrs"]["name"])
    for spec in all_params(g) + all_buffers(g):
        e.reserve(spec["name"])
    fused = find_attention(g, order) if opset >= 23 else {}
    replaced = {n for match in fused.values() for n in match.inner}
    for node in order:
        data = g.nodes[node]
        op = data["op"]
        if node in replaced:
            continue
        e.scope(data.get("scope") or "")
        if op == "input":
            value = Value(data["attrs"]["name"], tuple(data["axes"]), data["dtype"])
        elif op == "output":
            value = _lower_output(e, data, e.values[node_inputs(g, node)[0]])
        elif node in fused:
            value = lower_attention(e, data, fused[node])
        else:
            value = LOWER[op](e, data, [e.values[src] for src in node_inputs(g, node)])
        # a tensor may keep a layout other than the IR's where that saves a transpose:
        # every lowering finds axes by name, and outputs are put in their declared order
        if sorted(value.axes) != sorted(data["axes"]):
            raise AssertionError(f"{node} ({op}): lowered axes {list(value.axes)} are not the IR's {data['axes']}")
        e.values[node] = value
    inputs = [_value_info(g, g.nodes[n]) for n in g.graph["inputs"]]
    outputs = [_value_info(g, g.nodes[n]) for n in g.graph["outputs"]]
    e.prune([o.name for o in outputs])
    graph = helper.make_graph(e.nodes, g.graph.get("model") or "ncdl", inputs, outputs)
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(graph, opset_imports=[opset_id], producer_name="ncdl", producer_version=ncdl.__version__)
    _add_initializers(model, e.initializers)
    model.ir_version = helper.find_min_ir_version_for([opset_id])
    _annotate(model, g, list(e.initializers))
    return model


def _add_initializers(model: onnx.ModelProto, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the weights straight into ``model``'s graph.

    ``make_graph``/``make_model`` copy every TensorProto they are given (twice
    in all); filling the model's own repeated field copies each array's bytes
    once, which is most of the export time of a large model.
    """
    for name, array in arrays.items():
        tensor = model.graph.initializer.add()
        tensor.name = name
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        tensor.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _lower_output(e: Emitter, data: dict[str, Any], value: Value) -> Value:
    value = e.permute(value, data["axes"])
    name = data["attrs"]["name"]
    e.nodes.append(helper.make_node("Identity", [value.name], [name], name=e.fresh(f"output/{name}")))
    return Value(name, value.axes, value.dtype)


def dim_name(size: Size) -> str:
    """The ``dim_param`` of a run-time size: the free root axis name, or the size expression."""
    return str(size)


def _value_info(g: nx.MultiDiGraph, data: dict[str, Any]) -> onnx.ValueInfoProto:
    shape: list[int | str] = []
    for axis in data["axes"]:
        size = g.graph["axes"][axis].size
        fixed = size.as_int()
        shape.append(fixed if fixed is not None else dim_name(size))
    return helper.make_tensor_value_info(data["attrs"]["name"], ONNX_DTYPES[data["dtype"]], shape)


def _annotate(model: onnx.ModelProto, g: nx.MultiDiGraph, weights: list[str]) -> None:
    """doc_string and metadata_props: source hash, axis table, parameters, signature axes."""
    source = g.graph.get("source") or {}
    axes = {
        name: {"size": str(axis.size), "fixed": axis.fixed, "bound": axis.bound}
        for name, axis in g.graph["axes"].items()
    }

    def signature(nodes: list[str]) -> str:
        rows = [
            {"name": g.nodes[n]["attrs"]["name"], "axes": g.nodes[n]["axes"], "dtype": g.nodes[n]["dtype"]}
            for n in nodes
        ]
        return json.dumps(rows)

    params = [p["name"] for p in all_params(g)]
    buffers = [b["name"] for b in all_buffers(g)]
    model.doc_string = (
        f"ncdl model {g.graph.get('model', '')} from {source.get('file', '<unknown>')} "
        f"(source sha256 {source.get('sha256', 'unknown')})"
    )
    meta = {
        "ncdl.model": str(g.graph.get("model", "")),
        "ncdl.source_file": str(source.get("file", "")),
        "ncdl.source_sha256": str(source.get("sha256", "")),
        "ncdl.axes": json.dumps(axes),
        "ncdl.parameters": json.dumps(params),
        "ncdl.buffers": json.dumps(buffers),
        "ncdl.initializers": json.dumps(weights),
        "ncdl.inputs": signature(g.graph["inputs"]),
        "ncdl.outputs": signature(g.graph["outputs"]),
    }
    helper.set_model_props(model, meta)


def tensor_bytes(model: onnx.ModelProto) -> int:
    """The bytes held by the model's initializers and constants."""
    total = sum(t.ByteSize() for t in model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                total += attr.t.ByteSize()
    return total


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically.

    The model is written to a temporary file in the same directory and moved
    over ``path`` with ``os.replace``, so a failed write leaves any old file
    intact. Models over 2 GB keep their tensors in ``<name>.data`` next to it
    (ONNX external data), moved into place first.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        staged = staging / path.name
        if tensor_bytes(model) > EXTERNAL_DATA_BYTES:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)  # conversion to external data rewrites the tensors in place
            data_name = path.name + ".data"
            onnx.save_model(
                copy,
                staged,
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=0,
            )
            os.replace(staging / data_name, directory / data_name)
        else:
            onnx.save_model(model, staged)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

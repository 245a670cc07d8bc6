"""The ONNX backend: an IR graph to an ``onnx.ModelProto``, emitted with onnx.helper.

The twin of :mod:`ncdl.compiler.fx`. Never traces Python and never imports
torch: every IR node is lowered by a rule of
:data:`ncdl.compiler.onnx.table.RULES` (attention chains, marked by the
pipeline's attention pass, fuse into ``Attention`` at opset 23). Graph inputs
and outputs keep the IR's names and order; free axes become named dynamic
dims; weights become initializers named by their parameter names.

Example:
    >>> model = lower_onnx(program.graph(), opset=23)
    >>> save_onnx(model, "gpt.onnx")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import onnx
from onnx import helper

from ncdl.compiler.heap import frozen_heap
from ncdl.compiler.onnx.lower import ONNX_DTYPES, OnnxEmitter
from ncdl.compiler.onnx.table import FUSED, RULES
from ncdl.compiler.onnx.weights import WeightSource, check_fits
from ncdl.compiler.pipeline import OPSET_DEFAULT, check_opset, onnx_passes, run_passes
from ncdl.files import save_onnx
from ncdl.ir import all_buffers, all_params, node_inputs, requirements, topological
from ncdl.ir.sizes import Size
from ncdl.version import __version__

__all__ = ["dim_name", "lower_onnx", "save_onnx"]


def lower_onnx(
    g: nx.MultiDiGraph, state_dict: Mapping[str, Any] | None = None, opset: int = OPSET_DEFAULT, *, seed: int = 0
) -> onnx.ModelProto:
    """Lower an IR graph to an ONNX model.

    Args:
        g: the checked IR (see :mod:`ncdl.ir`).
        state_dict: weights by parameter name (torch tensors or numpy arrays);
            None draws fresh weights from each parameter's ``init`` (numpy,
            seeded with ``seed``). It must fit as torch's strict
            ``load_state_dict`` would (see :func:`~ncdl.compiler.onnx.weights.check_fits`).
        opset: the ONNX opset, 17 to 23 (see :mod:`ncdl.compiler.pipeline`).
            At 23 attention chains become ``Attention`` and rmsnorm
            ``RMSNormalization``; below, they are decomposed.

    Returns:
        The model; ``onnx.checker.check_model(model, full_check=True)`` passes.

    Raises:
        ValueError: ``state_dict`` does not fit the model (every problem listed in one message).
    """
    check_opset(opset)
    if state_dict is not None:
        every_param = [p for n in topological(g) for p in g.nodes[n]["params"]]
        check_fits(state_dict, every_param, all_buffers(g))
    with frozen_heap():
        return _lower_onnx(g, state_dict, opset, seed)


def _lower_onnx(g: nx.MultiDiGraph, state_dict: Mapping[str, Any] | None, opset: int, seed: int) -> onnx.ModelProto:
    g = run_passes(g, onnx_passes(opset))
    e = OnnxEmitter(g, opset)
    e.weights = WeightSource(state_dict, seed)
    for node in g.graph["inputs"] + g.graph["outputs"]:
        e.reserve(g.nodes[node]["attrs"]["name"])
    for spec in all_params(g) + all_buffers(g):
        e.reserve(spec["name"])
    for node in topological(g):
        data = g.nodes[node]
        op = data["op"]
        if data.get("fused_into"):
            continue  # computed by the fused node it names
        e.scope(data["scope"])
        if data.get("fused"):
            value = FUSED[data["fused"]["kind"]](e, data, [])
        else:
            value = RULES[op](e, data, [e.values[src] for src in node_inputs(g, node)])
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
    model = helper.make_model(graph, opset_imports=[opset_id], producer_name="ncdl", producer_version=__version__)
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
    needs = requirements.encode(requirements.collect(g), g)
    if needs:
        meta["ncdl.requirements"] = needs
    helper.set_model_props(model, meta)

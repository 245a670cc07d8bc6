"""Helpers for the ONNX backend tests: export, run in onnxruntime, inspect the graph.

Graphs are built with :class:`irbuild.IRBuilder`, the one IR builder of the backend tests.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import onnx
import onnxruntime as ort

from ncdl.compiler.onnx import lower_onnx
from ncdl.ir import all_buffers, all_params


def random_weights(g: nx.MultiDiGraph, seed: int = 1) -> dict[str, np.ndarray]:
    """Random float32 weights for every parameter and buffer (running_var kept positive)."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in all_params(g) + all_buffers(g):
        if s["key"] == "num_batches_tracked":
            out[s["name"]] = np.array(0, dtype=np.int64)
        elif s["key"] == "running_var":
            out[s["name"]] = rng.uniform(0.5, 2.0, s["shape"]).astype(np.float32)
        else:
            out[s["name"]] = rng.standard_normal(s["shape"]).astype(np.float32)
    return out


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime CPU session for an in-memory model."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def export_run(
    g: nx.MultiDiGraph, feeds: dict[str, np.ndarray], opset: int = 23, state_dict: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Export (checking the model fully), run in onnxruntime, return outputs by name."""
    model = lower_onnx(g, state_dict=state_dict, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds), strict=True))


def op_types(model: onnx.ModelProto) -> list[str]:
    """The op types of the model's nodes, in order."""
    return [n.op_type for n in model.graph.node]


def on_data(model: onnx.ModelProto, op_type: str = "Transpose") -> list[onnx.NodeProto]:
    """Nodes of ``op_type`` that act on run-time data (not only on weights and constants, which onnxruntime folds)."""
    constant = {t.name for t in model.graph.initializer}
    moving = []
    for node in model.graph.node:
        if all(i in constant for i in node.input if i):
            constant.update(node.output)
        elif node.op_type == op_type:
            moving.append(node)
    return moving

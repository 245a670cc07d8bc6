"""Helpers for the ONNX backend tests: build small IR graphs, export, run in onnxruntime."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import onnx
import onnxruntime as ort

from ncdl.compiler.onnx import lower_onnx
from ncdl.ir import Axis, add_node, all_buffers, all_params, new_graph, verify
from ncdl.ir.sizes import Size

SHA = "0123456789abcdef" * 4


class Net:
    """A tiny IR builder: axes, inputs, ops (with their params), outputs."""

    def __init__(self, model: str = "M") -> None:
        self.g = new_graph(model)
        self.g.graph["source"] = {"file": "test.ncd", "sha256": SHA}

    def axis(
        self, name: str, size: int | Size | None = None, *, bound: int | None = None, alias: str | None = None
    ) -> str:
        """Declare a sized (int / Size), free (None) or alias axis."""
        if alias is not None:
            axis = self.g.graph["axes"][alias]
            value, bound = axis.size, axis.bound
        else:
            value = Size.symbol(name) if size is None else Size.of(size)
        self.g.graph["axes"][name] = Axis(name, value, bound)
        return name

    def axes(self, *free: str, **sized: int | Size) -> None:
        """Declare free axes (positional) and sized ones (keywords) at once."""
        for name in free:
            self.axis(name)
        for name, size in sized.items():
            self.axis(name, size)

    def input(self, name: str, axes: list[str], dtype: str = "float32") -> str:
        node = add_node(self.g, "input", [], axes, name=name, dtype=dtype, attrs={"name": name, "of": None})
        self.g.graph["inputs"].append(node)
        for dim, axis in enumerate(axes):
            size = self.g.graph["axes"][axis].size
            for root in size.symbols():
                if size == Size.symbol(root):
                    self.g.graph["bindings"].setdefault(root, [node, dim])
        return node

    def op(
        self,
        op: str,
        inputs: list[str],
        layout: list[str],
        /,
        *,
        dtype: str = "float32",
        scope: str = "",
        params: Any = None,
        buffers: Any = None,
        **attrs: Any,
    ) -> str:
        return add_node(
            self.g, op, inputs, layout, dtype=dtype, attrs=attrs, scope=scope, params=params, buffers=buffers
        )

    def output(self, src: str, name: str = "y", axes: list[str] | None = None) -> str:
        node = add_node(
            self.g,
            "output",
            [src],
            axes or self.g.nodes[src]["axes"],
            name=name,
            attrs={"name": name},
            dtype=self.g.nodes[src]["dtype"],
        )
        self.g.graph["outputs"].append(node)
        return node

    def stored(self, axis: str) -> int:
        """The stored (fixed or bound) size of an axis."""
        a = self.g.graph["axes"][axis]
        return a.fixed if a.fixed is not None else a.bound

    def graph(self) -> nx.MultiDiGraph:
        verify(self.g)
        return self.g


def spec(
    scope: str,
    key: str,
    axes: list[str],
    shape: list[int],
    init: dict[str, Any] | None = None,
    tied_to: str | None = None,
) -> dict[str, Any]:
    """A Param dict as the checker writes it."""
    fan_in = math.prod(shape[1:]) or 1
    init = init or {"kind": "uniform", "low": -1 / math.sqrt(fan_in), "high": 1 / math.sqrt(fan_in)}
    return {"key": key, "name": f"{scope}.{key}", "axes": axes, "shape": shape, "init": init, "tied_to": tied_to}


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

"""The emitter behind :func:`ncdl.compiler.fx.lower_fx` (the twin of :mod:`ncdl.compiler.onnx.lower`).

:class:`FxEmitter` walks the IR in topological order and appends ``torch.fx``
nodes for each box (the per-op rules live in :mod:`ncdl.compiler.fx.table`).
It also owns the layout moves every op needs (permute to an order, align a
tensor to a wider layout) and run-time sizes: a free axis's size is read with
``tensor.size(dim)`` from a tensor that carries it, never baked in.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx
import torch
import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx import runtime
from ncdl.ir import node_inputs, requirements, topological
from ncdl.ir.sizes import Floor, Size

#: A lowered value: the fx node and the IR axes (its physical layout).
FxValue = tuple[fx.Node, list[str]]
#: A size as an argument of an fx call: an int when fixed, else the fx node computing it.
SizeArg = int | fx.Node
#: A lowering table entry: ``rule(emitter, node data, inputs) -> fx node``.
Rule = Callable[["FxEmitter", dict[str, Any], list[FxValue]], fx.Node]


class _Codegen(fx.graph.CodeGen):
    """fx's code generator, printing ``torch._C._nn.f`` as the ``torch.nn.functional.f`` it is."""

    def _gen_python_code(self, *args: Any, **kwargs: Any) -> fx.graph.PythonCode:
        code = super()._gen_python_code(*args, **kwargs)
        code.src = _C_NN.sub(_functional_name, code.src)
        return code


_C_NN = re.compile(r"\btorch\._C\._nn\.(\w+)")


def _node_name(name: str) -> str:
    """A box's name as an fx node name: fx renames clashes, but not ``self`` (``forward``'s own)."""
    return "self_" if name == "self" else name


def _functional_name(match: re.Match[str]) -> str:
    name = match.group(1)
    same = getattr(F, name, None) is getattr(torch._C._nn, name)
    return f"torch.nn.functional.{name}" if same else match.group(0)


class FxEmitter:
    """Builds one ``torch.fx.Graph`` from one IR graph."""

    def __init__(self, g: nx.MultiDiGraph) -> None:
        self.g = g
        self.graph = fx.Graph()
        self.graph.set_codegen(_Codegen())
        self.values: dict[str, fx.Node] = {}  # IR node id -> its fx node
        self.placeholders: dict[str, fx.Node] = {}  # input name -> its placeholder, in signature order
        self._attrs: dict[str, fx.Node] = {}
        self._sizes: dict[tuple[fx.Node, int], fx.Node] = {}

    # driving ----------------------------------------------------------------
    def run(self, rules: Mapping[str, Rule], fused: Mapping[str, Rule]) -> fx.Graph:
        """Lower every node with ``rules[op]`` (a fused chain with ``fused[kind]``); return the finished graph.

        Nodes marked ``fused_into`` are computed by the node they name; a node
        marked ``fused`` reads its operands from the mark (see :data:`ncdl.ir.ops.MARKS`).
        """
        g = self.g
        for node in g.graph["inputs"]:
            name = g.nodes[node]["attrs"]["name"]
            # a name that is no Python identifier (``past_key_values.0.key``) becomes one (``past_key_values_0_key``)
            self.placeholders[name] = self.graph.placeholder(re.sub(r"\W", "_", name))
        if self.placeholders:
            specs = tuple(self._input_spec(node) for node in g.graph["inputs"])
            # a float input must have the weights' dtype: one weight comes along as the reference
            weight = next((p["name"] for n in topological(g) for p in g.nodes[n]["params"] if not p["tied_to"]), None)
            reference = [self.attr(weight)] if weight is not None else []
            needs = requirements.collect(g)
            args = (specs, requirements.encode(needs, g), *self.placeholders.values(), *reference)
            # the module's mode is read only by a model with requirements of training (batchnorm's statistics)
            mode = {"training": self.attr("training")} if any(r.training for r in needs) else {}
            self.call(runtime.check_inputs, *args, name="check_inputs", **mode)
        for node in topological(g):
            data = g.nodes[node]
            if data.get("fused_into"):
                continue
            if data.get("fused"):
                self.values[node] = fused[data["fused"]["kind"]](self, data, [])
                continue
            ins = [(self.values[src], self.g.nodes[src]["axes"]) for src in node_inputs(g, node)]
            self.values[node] = rules[data["op"]](self, data, ins)
        outs = [self.values[node] for node in g.graph["outputs"]]
        self.graph.output(outs[0] if len(outs) == 1 else tuple(outs))
        return self.graph

    def _input_spec(self, node: str) -> runtime.InputSpec:
        data = self.g.nodes[node]
        name = data["attrs"]["name"]
        axes = []
        for ax in data["axes"]:
            axis = self.g.graph["axes"][ax]
            axes.append((ax, axis.fixed, axis.bound, str(axis.size)))
        return (name, data["dtype"], tuple(axes))

    # emitting ---------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> fx.Node:
        """Append ``fn(*args, **kwargs)``, named after the box."""
        node = self.graph.create_node("call_function", fn, tuple(args), kwargs, name=_node_name(name))
        if fn.__module__ == runtime.__name__:
            # a leaf for fx's tracer, so a pickled module re-traces it as one call
            node.meta["is_wrapped"] = True
        return node

    def method(self, method: str, *args: Any, name: str, **kwargs: Any) -> fx.Node:
        """Append ``args[0].method(*args[1:], **kwargs)``."""
        return self.graph.create_node("call_method", method, tuple(args), kwargs, name=_node_name(name))

    def attr(self, qualified: str) -> fx.Node:
        """A ``get_attr`` node for a parameter, buffer or flag (one per name)."""
        if qualified not in self._attrs:
            self._attrs[qualified] = self.graph.get_attr(qualified)
        return self._attrs[qualified]

    def param(self, data: dict[str, Any], key: str) -> fx.Node:
        """The ``get_attr`` node of the box's parameter or buffer ``key``."""
        for p in data["params"] + data["buffers"]:
            if p["key"] == key:
                return self.attr(p["name"])
        raise KeyError(f"{data['scope']}: no parameter {key!r}")

    def param_shape(self, data: dict[str, Any], key: str) -> list[int]:
        """The stored shape of the box's parameter ``key``."""
        return next(p["shape"] for p in data["params"] + data["buffers"] if p["key"] == key)

    # layout -------------------------------------------------------------------
    def finish(self, y: fx.Node, axes: Sequence[str], data: dict[str, Any]) -> fx.Node:
        """``y`` (laid out as ``axes``) moved to the node's declared layout, if it differs."""
        return self.permute(y, axes, data["axes"], f"{data['name']}_t")

    def permute(self, x: fx.Node, src: Sequence[str], dst: Sequence[str], name: str) -> fx.Node:
        """``x`` (laid out as ``src``) reordered to ``dst``; a no-op when equal."""
        src, dst = list(src), list(dst)
        if src == dst:
            return x
        perm = [src.index(a) for a in dst]
        moved = [i for i, p in enumerate(perm) if p != i]
        if len(moved) == 2:
            return self.method("transpose", x, *moved, name=name)
        return self.method("permute", x, *perm, name=name)

    def align(self, value: FxValue, dst: Sequence[str], name: str) -> fx.Node:
        """``value`` laid out to broadcast against ``dst`` (a superset of its axes).

        Axes are permuted into ``dst``'s relative order; an axis it lacks gets a
        size-1 dim unless it is leading (torch broadcasting adds those).
        """
        x, src = value
        present = [a for a in dst if a in src]
        x = self.permute(x, src, present, f"{name}_t")
        if not present:
            return x
        first = list(dst).index(present[0])
        for i in range(first, len(dst)):
            if dst[i] not in src:
                x = self.method("unsqueeze", x, i - first, name=f"{name}_u")
        return x

    # sizes ----------------------------------------------------------------------
    def size(self, axis: str, carriers: Sequence[FxValue] = ()) -> SizeArg:
        """The size of ``axis``: an int when fixed, else read at run time."""
        info = self.g.graph["axes"][axis]
        if info.fixed is not None:
            return info.fixed
        for node, axes in carriers:
            if axis in axes:
                return self.dim_size(node, axes.index(axis), axis)
        return self.size_expr(info.size)

    def view_sizes(self, axes: Sequence[str], carriers: Sequence[FxValue] = ()) -> list[SizeArg]:
        """Sizes for ``reshape``/``unflatten``: fixed ones as ints, one free one as -1."""
        out: list[SizeArg] = []
        used_wildcard = False
        for ax in axes:
            if self.g.graph["axes"][ax].fixed is None and not used_wildcard:
                out.append(-1)
                used_wildcard = True
            else:
                out.append(self.size(ax, carriers))
        return out

    def dim_size(self, node: fx.Node, dim: int, axis: str) -> fx.Node:
        """``node.size(dim)`` (emitted once), named after the axis."""
        key = (node, dim)
        if key not in self._sizes:
            self._sizes[key] = self.method("size", node, dim, name=axis)
        return self._sizes[key]

    def root_size(self, root: str) -> SizeArg | None:
        """The run-time size of the free root axis ``root``, from its binding."""
        binding = self.g.graph["bindings"].get(root)
        if binding is None:
            return None
        node, dim = binding
        return self.dim_size(self.values[node], dim, root)

    def size_expr(self, size: Size) -> SizeArg:
        """Emit arithmetic computing a symbolic size from the input sizes."""
        value = size.as_int()
        if value is not None:
            return value
        scale = math.lcm(*(c.denominator for c in size.terms.values()))
        total: SizeArg = 0
        for mono, coef in size.terms.items():
            term: SizeArg = int(coef * scale)
            for atom, power in mono:
                if isinstance(atom, Floor):
                    base = self._arith(operator.floordiv, self.size_expr(atom.numerator), atom.denominator)
                else:
                    base = self.root_size(atom)
                    if base is None:
                        raise ValueError(f"free axis {atom!r} is not carried by any input")
                for _ in range(power):
                    term = self._arith(operator.mul, term, base)
            total = self._arith(operator.add, total, term)
        return self._arith(operator.floordiv, total, scale)

    def _arith(self, fn: Callable[[Any, Any], Any], a: SizeArg, b: SizeArg) -> SizeArg:
        if isinstance(a, int) and isinstance(b, int):
            return fn(a, b)
        identity = {operator.add: 0, operator.mul: 1, operator.floordiv: None}[fn]
        if fn is not operator.floordiv and a == identity and isinstance(a, int):
            return b
        if b == identity and isinstance(b, int) or (fn is operator.floordiv and b == 1):
            return a
        return self.call(fn, a, b, name="size")

"""The emitter behind :func:`ncdl.compiler.onnx.lower_onnx` (the twin of :mod:`ncdl.compiler.fx.lower`).

An :class:`OnnxEmitter` collects ONNX nodes and initializers for one IR graph and
tracks, for every tensor it makes, the axes of its physical layout (a
:class:`OnnxValue`). It owns the layout helpers every op lowering shares: permute
to an axis order, align for broadcasting, reshape to new axes, and the run-time
shape arithmetic for free axes (read from the graph inputs through
``g.graph["bindings"]``, folded to constants wherever a size is fixed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import onnx
from onnx import helper, numpy_helper

from ncdl.compiler.onnx.weights import WeightSource
from ncdl.compiler.pipeline import REDUCE_AXES_INPUT_OPSET
from ncdl.ir.sizes import Floor, Size

#: ONNX element types of the IR's dtypes.
ONNX_DTYPES = {"float32": onnx.TensorProto.FLOAT, "int64": onnx.TensorProto.INT64, "bool": onnx.TensorProto.BOOL}
NUMPY_DTYPES = {"float32": np.float32, "int64": np.int64, "bool": np.bool_}

#: An entry of a target shape: an axis name, a constant, or a symbolic size.
ShapeEntry = str | int | Size


def find_spec(data: dict[str, Any], key: str, buffers: bool = False) -> dict[str, Any] | None:
    """The Param (or buffer) dict with ``key`` of an IR node, or None."""
    for spec in data["buffers" if buffers else "params"]:
        if spec["key"] == key:
            return spec
    return None


def hint(data: dict[str, Any]) -> str:
    """A readable tensor name for an IR node's result."""
    return data["name"] or data["op"]


@dataclass(frozen=True)
class OnnxValue:
    """An ONNX tensor name with its layout (axis names, outermost first) and dtype.

    Intermediate tensors may carry labels that are not in the axis table
    (``"<1>"`` for an inserted unit dim, ``"<a*b>"`` for a merged group).
    """

    name: str
    axes: tuple[str, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        """The number of dims."""
        return len(self.axes)


#: A lowering table entry: ``rule(emitter, node data, inputs) -> value`` (inputs in port order).
Rule = Callable[["OnnxEmitter", dict[str, Any], list[OnnxValue]], OnnxValue]


class OnnxEmitter:
    """Builds the node list and initializers of one ONNX graph from an IR graph."""

    def __init__(self, g: nx.MultiDiGraph, opset: int) -> None:
        self.g = g
        self.opset = opset
        self.axes = g.graph["axes"]
        self.nodes: list[onnx.NodeProto] = []
        # arrays, not TensorProtos: lower_onnx writes each into the finished model once (no proto copies)
        self.initializers: dict[str, np.ndarray] = {}
        self.values: dict[str, OnnxValue] = {}  # IR node id -> its lowered tensor
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}  # hint -> the first suffix fresh() may still find free
        self._consts: dict[tuple[Any, ...], str] = {}
        self._sizes: dict[Size, str] = {}
        self._node_prefix = ""
        self.weights: WeightSource | None = None
        self.memo: dict[tuple[Any, ...], str] = {}  # tensors several lowerings share (masks, transposes)
        self._reshaped: dict[str, OnnxValue] = {}  # Reshape output -> the tensor it reshapes
        self._label_sizes: dict[str, Size] = {"<1>": Size.const(1)}  # labels outside the axis table

    # names -----------------------------------------------------------------
    def reserve(self, name: str) -> None:
        """Claim a tensor name (graph inputs, outputs, initializers)."""
        self._taken.add(name)

    def fresh(self, hint: str) -> str:
        """A tensor name not used before, close to ``hint``."""
        base = hint or "t"
        name, i = base, self._next.get(base, 1)
        while name in self._taken:
            name = f"{base}_{i}"
            i += 1
        self._next[base] = i  # names only accumulate: base_1 .. base_{i-1} stay taken, so start here next time
        self._taken.add(name)
        return name

    def scope(self, prefix: str) -> None:
        """Prefix the names of the nodes emitted next (the IR scope of the box being lowered)."""
        self._node_prefix = prefix

    # nodes -----------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", **attrs: Any) -> str:
        """Emit one single-output ONNX node; return its output name."""
        out = self.fresh(hint or op_type.lower())
        node_name = self.fresh(f"{self._node_prefix}/{op_type}" if self._node_prefix else op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=node_name, **attrs))
        return out

    def ops(self, op_type: str, inputs: Sequence[str], hints: Sequence[str], **attrs: Any) -> list[str]:
        """Emit one ONNX node with one output per hint; return the output names."""
        outs = [self.fresh(h) for h in hints]
        node_name = self.fresh(f"{self._node_prefix}/{op_type}" if self._node_prefix else op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs

    def const(self, value: Any, dtype: str = "float32") -> str:
        """A constant tensor (a ``Constant`` node), shared between equal uses."""
        array = np.asarray(value, dtype=NUMPY_DTYPES[dtype])
        key = (dtype, array.shape, array.tobytes())
        if key not in self._consts:
            name = self.fresh("const")
            tensor = numpy_helper.from_array(array, name)
            self.nodes.append(helper.make_node("Constant", [], [name], name=self.fresh("Constant"), value=tensor))
            self._consts[key] = name
        return self._consts[key]

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant."""
        return self.const(list(values), "int64")

    def weight(self, spec: dict[str, Any], dtype: str = "float32") -> str:
        """The initializer of a Param/buffer dict, named by its parameter name.

        A tied parameter (``tied_to`` set) resolves to the tensor it is tied
        to, so one initializer serves every use.
        """
        name = spec.get("tied_to") or spec["name"]
        if name not in self.initializers:
            assert self.weights is not None
            array = self.weights.get({**spec, "name": name}, dtype)
            self.initializers[name] = np.ascontiguousarray(array)
            self.reserve(name)
        return name

    # reductions differ across opsets: axes became an input in opset 18
    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool, hint: str = "") -> str:
        """``ReduceSum/Mean/Max`` over ``axes`` in the current opset's form."""
        if op_type == "ReduceSum" or self.opset >= REDUCE_AXES_INPUT_OPSET:
            return self.op(op_type, [x, self.ints(axes)], hint, keepdims=int(keepdims))
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=int(keepdims))

    # sizes -----------------------------------------------------------------
    def axis_size(self, axis: str) -> Size:
        """The symbolic size of an axis of the table."""
        return self.axes[axis].size

    def size(self, size: Size) -> str:
        """A 1-D int64 tensor ``[n]`` holding ``size`` at run time (a constant when fixed)."""
        fixed = size.as_int()
        if fixed is not None:
            return self.ints([fixed])
        if size not in self._sizes:
            self._sizes[size] = self._size_expr(size)
        return self._sizes[size]

    def _size_expr(self, size: Size) -> str:
        if len(size.terms) == 1:
            ((mono, coef),) = size.terms.items()
            if coef == 1 and len(mono) == 1 and mono[0][1] == 1 and isinstance(mono[0][0], str):
                return self._root_size(mono[0][0])
        denom = math.lcm(*(c.denominator for c in size.terms.values()))
        total: str | None = None
        for mono, coef in size.terms.items():
            scaled = coef * denom
            term = self.ints([int(scaled)]) if not mono else None
            for atom, power in mono:
                factor = self._atom(atom)
                for _ in range(power):
                    term = factor if term is None else self.op("Mul", [term, factor], "size")
            if mono and scaled != 1:
                term = self.op("Mul", [term, self.ints([int(scaled)])], "size")
            total = term if total is None else self.op("Add", [total, term], "size")
        assert total is not None
        return total if denom == 1 else self.op("Div", [total, self.ints([denom])], "size")

    def _atom(self, atom: str | Floor) -> str:
        if isinstance(atom, str):
            return self.size(Size.symbol(atom))
        return self.op("Div", [self.size(atom.numerator), self.ints([atom.denominator])], "size")

    def _root_size(self, root: str) -> str:
        binding = self.g.graph["bindings"].get(root)
        if binding is None:
            raise ValueError(f"free axis {root!r} has no binding: no input carries it")
        node, dim = binding
        return self.op("Shape", [self.values[node].name], f"{root}_size", start=int(dim), end=int(dim) + 1)

    def scalar(self, size: Size) -> str:
        """A 0-D int64 tensor holding ``size`` (for ``Range``)."""
        fixed = size.as_int()
        if fixed is not None:
            return self.const(fixed, "int64")
        key = ("scalar", size)
        if key not in self.memo:
            self.memo[key] = self.op("Squeeze", [self.size(size), self.ints([0])], "n")
        return self.memo[key]

    def dim_size(self, dim: ShapeEntry) -> Size | None:
        """The symbolic size of a shape entry (None for a label outside the axis table)."""
        if isinstance(dim, Size):
            return dim
        if isinstance(dim, int):
            return Size.const(dim)
        return self.axes[dim].size if dim in self.axes else self._label_sizes.get(dim)

    def same_size(self, dim: ShapeEntry, label: str) -> bool:
        """Whether shape entry ``dim`` provably equals the size of a tensor dim labelled ``label``."""
        if dim == label:
            return True
        a, b = self.dim_size(dim), self.dim_size(label)
        return a is not None and b is not None and a == b

    def shape_vec(self, dims: Sequence[ShapeEntry], srcs: Sequence[OnnxValue], *, reshape: bool = True) -> str:
        """A 1-D int64 shape tensor for ``dims``.

        Fixed sizes are constants. For ``Reshape`` (``reshape=True``) an axis
        that stays at its index in ``srcs[0]`` is written ``0`` (copy) and one
        remaining run-time size ``-1`` (inferred); other run-time sizes are
        read with ``Shape`` from a source tensor carrying the axis, or
        computed from the graph inputs.
        """
        parts: list[int | None] = []
        dynamic: list[int] = []
        for i, dim in enumerate(dims):
            size = self.dim_size(dim)
            fixed = size.as_int() if size is not None else None
            if fixed is not None:
                parts.append(fixed)
            elif reshape and srcs and i < srcs[0].rank and self.same_size(dim, srcs[0].axes[i]):
                parts.append(0)
            else:
                parts.append(None)
                dynamic.append(i)
        if reshape and dynamic:
            # infer the size that is dearest to compute: one no source carries
            unsourced = [i for i in dynamic if self._find(dims[i], srcs) is None]
            parts[(unsourced or dynamic)[0]] = -1
        pieces: list[str] = []
        run: list[int] = []
        for i, part in enumerate(parts):
            if part is not None:
                run.append(part)
                continue
            if run:
                pieces.append(self.ints(run))
                run = []
            pieces.append(self._runtime_dim(dims[i], srcs))
        if run:
            pieces.append(self.ints(run))
        return pieces[0] if len(pieces) == 1 else self.op("Concat", pieces, "shape", axis=0)

    @staticmethod
    def _find(dim: ShapeEntry, srcs: Sequence[OnnxValue]) -> tuple[OnnxValue, int] | None:
        if isinstance(dim, str):
            for src in srcs:
                if dim in src.axes:
                    return src, src.axes.index(dim)
        return None

    def _runtime_dim(self, dim: ShapeEntry, srcs: Sequence[OnnxValue]) -> str:
        found = self._find(dim, srcs)
        if found is not None:
            src, i = found
            return self.op("Shape", [src.name], "dim", start=i, end=i + 1)
        size = self.dim_size(dim)
        if size is None:
            raise ValueError(f"no size known for dim {dim!r}")
        return self.size(size)

    # layout ------------------------------------------------------------------
    def permute(self, x: OnnxValue, order: Sequence[str], hint: str = "") -> OnnxValue:
        """``x`` with its axes in ``order`` (a Transpose only when the order differs)."""
        order = tuple(order)
        if order == x.axes:
            return x
        perm = [x.axes.index(a) for a in order]
        key = ("transpose", x.name, *perm)
        if key not in self.memo:
            self.memo[key] = self.op("Transpose", [x.name], hint or "t", perm=perm)
        return OnnxValue(self.memo[key], order, x.dtype)

    def align(self, x: OnnxValue, target: Sequence[str], hint: str = "") -> OnnxValue:
        """``x`` permuted and unsqueezed so that it broadcasts against layout ``target``.

        Axes missing from ``x`` before its first axis are left to numpy-style
        broadcasting; missing axes after it get unit dims.
        """
        target = tuple(target)
        present = [a for a in target if a in x.axes]
        x = self.permute(x, present, hint)
        if not present:
            return x
        first = target.index(present[0])
        missing = [i - first for i, a in enumerate(target) if i > first and a not in x.axes]
        if not missing:
            return x
        labels = list(target[first:])
        for i in missing:
            labels[i] = "<1>"
        return OnnxValue(self.op("Unsqueeze", [x.name, self.ints(missing)], hint or "u"), tuple(labels), x.dtype)

    def reshape(
        self, x: OnnxValue, dims: Sequence[ShapeEntry], labels: Sequence[str] | None = None, hint: str = ""
    ) -> OnnxValue:
        """``x`` reshaped to ``dims`` (no op when the layout already matches)."""
        labels = tuple(labels if labels is not None else [str(d) for d in dims])
        if labels == x.axes:
            return x
        # a reshape of a reshape reads the original tensor (the middle one may then be dead)
        x = self._reshaped.get(x.name, x)
        if len(dims) == x.rank and all(self.same_size(d, a) for d, a in zip(dims, x.axes, strict=True)):
            return OnnxValue(x.name, labels, x.dtype)
        shape = self.shape_vec(dims, [x])
        out = OnnxValue(self.op("Reshape", [x.name, shape], hint or "r"), labels, x.dtype)
        self._reshaped[out.name] = x
        return out

    def prune(self, outputs: Sequence[str]) -> None:
        """Drop nodes and initializers that no graph output depends on."""
        live = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(o in live for o in node.output):
                kept.append(node)
                live.update(i for i in node.input if i)
                for attr in node.attribute:  # a subgraph (Scan's body) may read outer names
                    live.update(i for sub in attr.g.node for i in sub.input if i)
        self.nodes = kept[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in live}

    def cast(self, x: OnnxValue, dtype: str) -> OnnxValue:
        """``x`` converted to ``dtype`` (no op when it already is)."""
        if x.dtype == dtype:
            return x
        return OnnxValue(self.op("Cast", [x.name], "cast", to=ONNX_DTYPES[dtype]), x.axes, dtype)

    def group(self, axes: Sequence[str]) -> tuple[ShapeEntry, str]:
        """The shape entry and label of ``axes`` merged into one dim (``1`` when empty)."""
        if len(axes) == 1:
            return axes[0], axes[0]
        total = Size.const(1)
        for a in axes:
            total = total * self.axis_size(a)
        label = "<" + "*".join(axes) + ">" if axes else "<1>"
        self._label_sizes[label] = total
        fixed = total.as_int()
        return (fixed if fixed is not None else total), label

"""Build small IR graphs by hand for the backend tests (no front end needed): the one IR builder.

Both backends' tests (torch.fx and ONNX) build their graphs with
:class:`IRBuilder`; ``test_irbuild.py`` checks the builder itself.

Example:
    >>> b = IRBuilder()
    >>> b.axes("batch", model=8)
    >>> x = b.input("x", ["batch", "model"])
    >>> b.output(b.linear(x, ["model"], ["model"], scope="fc"))
    >>> g = b.graph()  # verified
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from ncdl.ir import Axis, add_node, new_graph, verify
from ncdl.ir.sizes import Size

#: The source hash every built graph records (the ONNX export writes it into the model's metadata).
SHA = "0123456789abcdef" * 4


class IRBuilder:
    """A tiny fluent wrapper over :func:`ncdl.ir.add_node`: axes, inputs, ops (with their params), outputs."""

    def __init__(self, model: str = "M") -> None:
        self.g = new_graph(model)
        self.g.graph["source"] = {"file": "test.ncd", "sha256": SHA}

    # axes ---------------------------------------------------------------------
    def axis(
        self, name: str, size: int | Size | None = None, *, bound: int | None = None, alias: str | None = None
    ) -> str:
        """Declare an axis: sized (int or Size), free (None) or an alias of another (sharing its size and bound)."""
        if alias is not None:
            value = self.g.graph["axes"][alias].size
            bound = bound if bound is not None else self.g.graph["axes"][alias].bound
        elif size is None:
            value = Size.symbol(name)
        else:
            value = Size.of(size)
        self.g.graph["axes"][name] = Axis(name, value, bound)
        return name

    def axes(self, *free: str, **sized: int | Size) -> None:
        """Declare free axes (positional) and sized ones (keywords) at once."""
        for name in free:
            self.axis(name)
        for name, size in sized.items():
            self.axis(name, size)

    def stored(self, name: str) -> int:
        """The stored size of an axis (its fixed size, or its bound when free), for weight shapes."""
        axis = self.g.graph["axes"][name]
        return axis.fixed if axis.fixed is not None else axis.bound

    # nodes ----------------------------------------------------------------------
    def input(self, name: str, axes: list[str], dtype: str = "float32", of: str | None = None) -> str:
        """A model input; binds every free root axis it is the first to carry."""
        node = add_node(self.g, "input", [], axes, name=name, dtype=dtype, attrs={"name": name, "of": of})
        self.g.graph["inputs"].append(node)
        for dim, ax in enumerate(axes):
            size = self.g.graph["axes"][ax].size
            for root in size.symbols():
                if size == Size.symbol(root):
                    self.g.graph["bindings"].setdefault(root, [node, dim])
        return node

    def output(self, src: str, axes: list[str] | None = None, name: str = "y") -> str:
        """A model output of ``src`` (in ``axes`` order, default its own), with its dtype."""
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

    def op(
        self,
        op: str,
        inputs: list[str],
        axes: list[str],
        /,
        *,
        name: str = "",
        dtype: str = "float32",
        scope: str = "",
        params: Any = None,
        buffers: Any = None,
        **attrs: Any,
    ) -> str:
        """A node of ``op`` (its attributes as keywords; the rest take their registry defaults)."""
        return add_node(
            self.g,
            op,
            inputs,
            axes,
            name=name or op,
            dtype=dtype,
            attrs=attrs,
            scope=scope,
            params=params,
            buffers=buffers,
        )

    def axes_of(self, node: str) -> list[str]:
        """The axes (layout) of a node's output."""
        return list(self.g.nodes[node]["axes"])

    # learned ops -------------------------------------------------------------------
    def linear(self, x: str, inn: list[str], out: list[str], *, scope: str, bias: bool = True, name: str = "") -> str:
        """A ``linear`` from ``inn`` to ``out`` with torch's default uniform init."""
        fan_in = math.prod(self.stored(a) for a in inn)
        bound = 1 / math.sqrt(fan_in)
        init = {"kind": "uniform", "low": -bound, "high": bound}
        params = [param(scope, "weight", out + inn, [self.stored(a) for a in out + inn], init)]
        if bias:
            params.append(param(scope, "bias", out, [self.stored(a) for a in out], init))
        axes = [a for a in self.axes_of(x) if a not in inn] + out
        return self.op(
            "linear", [x], axes, name=name or scope, scope=scope, params=params, **{"in": inn, "out": out, "bias": bias}
        )

    def graph(self) -> nx.MultiDiGraph:
        """The built graph, verified."""
        verify(self.g)
        return self.g


def param(
    scope: str,
    key: str,
    axes: list[str],
    shape: list[int],
    init: dict[str, Any] | None = None,
    tied_to: str | None = None,
) -> dict[str, Any]:
    """A Param dict as the checker writes it; ``init`` defaults to uniform ±1/sqrt(fan-in)."""
    if init is None:
        fan_in = math.prod(shape[1:]) or 1
        init = {"kind": "uniform", "low": -1 / math.sqrt(fan_in), "high": 1 / math.sqrt(fan_in)}
    return {
        "key": key,
        "name": ".".join(part for part in (scope, key) if part),
        "axes": axes,
        "shape": shape,
        "init": init,
        "tied_to": tied_to,
    }

"""Build small IR graphs by hand for the compiler tests (no front end needed)."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from ncdl.ir import Axis, add_node, new_graph, verify
from ncdl.ir.sizes import Size


class IRBuilder:
    """A tiny fluent wrapper over :func:`ncdl.ir.add_node` that fills in params."""

    def __init__(self, model: str = "M") -> None:
        self.g = new_graph(model)

    # axes ---------------------------------------------------------------------
    def axis(
        self, name: str, size: int | Size | None = None, *, bound: int | None = None, alias: str | None = None
    ) -> str:
        """Declare an axis: sized (int), free (None), an alias of another, or a Size expression."""
        if alias is not None:
            value = self.g.graph["axes"][alias].size
            bound = bound if bound is not None else self.g.graph["axes"][alias].bound
        elif size is None:
            value = Size.symbol(name)
        else:
            value = Size.of(size)
        self.g.graph["axes"][name] = Axis(name, value, bound)
        return name

    def size(self, name: str) -> int:
        """The fixed size (or bound) of an axis, for weight shapes."""
        axis = self.g.graph["axes"][name]
        return axis.fixed if axis.fixed is not None else axis.bound

    # nodes ----------------------------------------------------------------------
    def input(self, name: str, axes: list[str], dtype: str = "float32", of: str | None = None) -> str:
        node = add_node(self.g, "input", [], axes, name=name, dtype=dtype, attrs={"name": name, "of": of})
        self.g.graph["inputs"].append(node)
        for dim, ax in enumerate(axes):
            size = self.g.graph["axes"][ax].size
            for root in size.symbols():
                if size == Size.symbol(root):
                    self.g.graph["bindings"].setdefault(root, [node, dim])
        return node

    def output(self, src: str, axes: list[str] | None = None, name: str = "y") -> str:
        node = add_node(self.g, "output", [src], axes or self.g.nodes[src]["axes"], name=name, attrs={"name": name})
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
        scope: str = "",
        params: Any = None,
        buffers: Any = None,
        **attrs: Any,
    ) -> str:
        return add_node(
            self.g, op, inputs, axes, name=name or op, attrs=attrs, scope=scope, params=params, buffers=buffers
        )

    def axes(self, node: str) -> list[str]:
        return list(self.g.nodes[node]["axes"])

    # learned ops -------------------------------------------------------------------
    def linear(self, x: str, inn: list[str], out: list[str], *, scope: str, bias: bool = True, name: str = "") -> str:
        fan_in = math.prod(self.size(a) for a in inn)
        bound = 1 / math.sqrt(fan_in)
        init = {"kind": "uniform", "low": -bound, "high": bound}
        params = [param(scope, "weight", out + inn, [self.size(a) for a in out + inn], init)]
        if bias:
            params.append(param(scope, "bias", out, [self.size(a) for a in out], init))
        axes = [a for a in self.axes(x) if a not in inn] + out
        return self.op(
            "linear", [x], axes, name=name or scope, scope=scope, params=params, **{"in": inn, "out": out, "bias": bias}
        )

    def graph(self) -> nx.MultiDiGraph:
        verify(self.g)
        return self.g


def param(
    scope: str, key: str, axes: list[str], shape: list[int], init: dict[str, Any], tied_to: str | None = None
) -> dict[str, Any]:
    """A Param dict as the checker writes it."""
    return {
        "key": key,
        "name": ".".join(part for part in (scope, key) if part),
        "axes": axes,
        "shape": shape,
        "init": init,
        "tied_to": tied_to,
    }

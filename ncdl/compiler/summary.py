"""A Keras-like summary of a model: one row per box, in execution order.

Each row names the box (its instance path for a learned box, else its name
in its scope), its op, its output axes and their sizes, its parameters and
its forward FLOPs; the totals follow. The figures are :mod:`ncdl.compiler.stats`'s
(sizes of free axes the caller does not give stay symbolic).

Example:
    >>> print(summary(ncdl.architectures.load("mlp").graph("MLP"), {"batch": 32}))  # doctest: +ELLIPSIS
    Model: MLP  (batch=32)
    ...
"""

from __future__ import annotations

import networkx as nx

from ncdl.compiler.stats import _bytes, _number, _table, stats


def summary(g: nx.MultiDiGraph, axis_sizes: dict[str, int]) -> str:
    """The summary table of the model ``g`` (``axis_sizes`` as for :func:`stats`)."""
    result = stats(g, axis_sizes)
    rows = []
    for box in result["boxes"]:
        data = g.nodes[box["node"]]
        learned = bool(data["params"]) or bool(data["buffers"])
        label = box["scope"] if learned and box["scope"] else ".".join(p for p in (box["scope"], box["name"]) if p)
        shape = "[" + ", ".join(map(str, box["shape"])) + "]"
        rows.append(
            [label, box["op"], "[" + ", ".join(data["axes"]) + "]", shape, f"{box['params']:,}", _number(box["flops"])]
        )
    given = ", ".join(f"{k}={v}" for k, v in axis_sizes.items())
    lines = [f"Model: {result['model']}" + (f"  ({given})" if given else "")]
    table = _table(["box", "op", "output axes", "shape", "params", "FLOPs"], rows)
    rule = "  " + "-" * (max(len(line) for line in table) - 2)
    lines += [table[0], rule, *table[1:], rule]
    lines.append(f"  total parameters:   {result['params']:,} ({_bytes(result['param_bytes'])} as float32)")
    lines.append(f"  forward FLOPs:      {_number(result['flops'])}")
    lines.append(f"  activation memory:  {_bytes(result['activation_bytes'])}")
    if result["free_axes"]:
        lines.append(f"  free axes:          {', '.join(result['free_axes'])} (give sizes: summary(model, seq=128))")
    return "\n".join(lines)

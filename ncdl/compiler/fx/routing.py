"""The torch lowering of a routed mixture of experts (a ``moe`` box with a ``fused`` mark of kind ``"moe"``).

For each expert, the rows whose gate for it is non-zero are picked
(``index_select``) from every input of the experts' region that carries the
token axes; the region's nodes are lowered again by their ordinary rules on
those rows, with the token axes flattened into one row axis, the ``expert``
axis dropped and each weight that carries it sliced at that expert; the
result, weighted by the gates, is added back at its rows (``index_add``).
This is the loop of transformers' Mixtral experts, written once for any
token-wise expert circuit.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch.fx as fx

from ncdl.compiler.fx import learned, runtime
from ncdl.compiler.fx.lower import FxEmitter, FxValue, Rule
from ncdl.ir import node_inputs

#: The axis name of the flattened token rows inside the per-expert lowering.
ROWS = "<rows>"


def routed_moe(rules: Mapping[str, Rule]) -> Rule:
    """The fused rule, lowering the region's nodes with ``rules``."""

    def rule(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
        mark, name = data["fused"], data["name"]
        tokens, expert, region = mark["tokens"], mark["expert"], mark["region"]
        gates = _rows(lw, lw.values[mark["gates"]], lw.g.nodes[mark["gates"]]["axes"], tokens, f"{name}_gates")
        count = lw.method("size", gates[0], 0, name=f"{name}_count")
        boundary: dict[str, FxValue] = {}
        total: fx.Node | None = None
        out_axes: list[str] = []
        for e in range(lw.g.graph["axes"][expert].fixed):
            rows = lw.call(runtime.routed_rows, gates[0], e, name=f"{name}_rows{e}")
            env: dict[str, FxValue] = {}
            for n in region:
                env[n] = _lower_for_expert(lw, rules, n, e, rows, env, boundary, tokens, expert)
            y, y_axes = env[mark["values"]]
            out_axes = [ROWS, *(a for a in y_axes if a != ROWS)]
            y = lw.permute(y, y_axes, out_axes, f"{name}_y{e}")
            weight = lw.call(operator.getitem, gates[0], (rows, e), name=f"{name}_w{e}")
            weight = lw.method("reshape", weight, -1, *([1] * (len(out_axes) - 1)), name=f"{name}_w{e}")
            y = lw.call(operator.mul, y, weight, name=f"{name}_weighted{e}")
            total = lw.call(runtime.add_rows, total, rows, y, count, name=f"{name}_sum")
        shape = lw.method("size", lw.values[mark["gates"]], name=f"{name}_shape")
        gate_axes = lw.g.nodes[mark["gates"]]["axes"]
        token_sizes = [lw.call(operator.getitem, shape, gate_axes.index(a), name=a) for a in tokens]
        y = lw.method("unflatten", total, 0, tuple(token_sizes), name=name)
        return lw.finish(y, [*tokens, *out_axes[1:]], data)

    return rule


def _rows(lw: FxEmitter, x: fx.Node, axes: Sequence[str], tokens: Sequence[str], name: str) -> FxValue:
    """``x`` with its token axes moved first and flattened into one row axis."""
    rest = [a for a in axes if a not in tokens]
    x = lw.permute(x, axes, [*tokens, *rest], f"{name}_t")
    if len(tokens) != 1:
        x = lw.method("flatten", x, 0, len(tokens) - 1, name=name)
    return x, [ROWS, *rest]


def _lower_for_expert(
    lw: FxEmitter,
    rules: Mapping[str, Rule],
    node: str,
    e: int,
    rows: fx.Node,
    env: dict[str, FxValue],
    boundary: dict[str, FxValue],
    tokens: Sequence[str],
    expert: str,
) -> FxValue:
    """One region node on expert ``e``'s rows: its ordinary rule on the substituted layout."""
    data = lw.g.nodes[node]
    axes = [a for a in data["axes"] if a != expert and a not in tokens[1:]]
    axes = [ROWS if a == tokens[0] else a for a in axes]
    local = {**data, "axes": axes, "name": f"{data['name']}_e{e}"}
    if data["op"] == "param":
        w = learned.param(lw, data, [])
        if expert in data["axes"]:
            w = lw.method("select", w, data["axes"].index(expert), e, name=local["name"])
        return w, axes
    ins: list[FxValue] = []
    for src in node_inputs(lw.g, node):
        if src in env:
            ins.append(env[src])
            continue
        src_axes = lw.g.nodes[src]["axes"]
        if tokens[0] not in src_axes:
            ins.append((lw.values[src], src_axes))
            continue
        if src not in boundary:
            boundary[src] = _rows(lw, lw.values[src], src_axes, tokens, f"{lw.g.nodes[src]['name']}_rows")
        x, x_axes = boundary[src]
        ins.append((lw.method("index_select", x, 0, rows, name=f"{local['name']}_in"), x_axes))
    return rules[data["op"]](lw, local, ins), axes

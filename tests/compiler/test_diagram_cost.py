"""``cost=True`` writes each box's FLOPs and activation bytes and marks the largest activation."""

from __future__ import annotations

import diagram_dot

from ncdl import architectures
from ncdl.compiler.diagram import render
from ncdl.compiler.stats import stats


def test_boxes_carry_their_flops_and_the_largest_activation_is_marked() -> None:
    g = architectures.load("mha").graph("ScaledDotProductAttention")
    dot = diagram_dot.parse(render(g, depth=None, panels=False, cost=True).source)
    marked = [n for n, a in dot.nodes.items() if "largest activation" in a.get("label", "")]
    assert len(marked) == 1
    (scores,) = marked
    assert g.nodes[scores]["op"] == "contract" and g.nodes[scores]["attrs"]["over"] == ["k"]  # query × key
    report = {b["node"]: b for b in stats(g, {"batch": 1})["boxes"]}
    flops = report[scores]["flops"]
    assert f"{flops / 1000:.3g}k FLOPs" in dot.nodes[scores]["label"]
    assert all("FLOPs" in dot.nodes[n]["label"] for n in report if n in dot.nodes)


def test_without_cost_no_numbers_are_drawn() -> None:
    g = architectures.load("mha").graph("ScaledDotProductAttention")
    assert "FLOPs" not in render(g).source

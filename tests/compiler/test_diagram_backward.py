"""The backward-pass diagram follows the paper's backpropagation rules."""

from __future__ import annotations

import diagram_dot
import pytest

from ncdl import architectures
from ncdl.compiler.diagram import render
from ncdl.compiler.diagram.backward import backward_graph
from ncdl.compiler.diagram.render import PASSING
from ncdl.compiler.diagram.style import axis_colours

CASES = [("mlp", "MLP"), ("mha", "ScaledDotProductAttention"), ("mha", "MultiHead")]


@pytest.mark.parametrize(("name", "model"), CASES)
def test_every_gradient_wire_carries_the_axes_of_its_forward_wire(name: str, model: str) -> None:
    g = architectures.load(name).graph(model)
    back = backward_graph(g)
    dot = diagram_dot.parse(render(g, backward=True, depth=None, panels=False).source)
    by_colour = {c: a for a, c in axis_colours(back, {a for *_, d in back.edges(data=True) for a in d["axes"]}).items()}
    checked = 0
    for u, v, data in g.edges(data=True):
        if g.nodes[u].get("dtype") == "int64":
            continue  # an index wire has no gradient
        assert [d["axes"] for d in back.get_edge_data(v, u).values()].count(data["axes"]) >= 1
        strands = [by_colour[c[:7]] for e in dot.edges_between(v, u) for c in e["color"].split(":")]
        assert sorted(strands) == sorted(data["axes"]), (u, v)
        checked += 1
    assert checked == sum(1 for u, _ in g.edges() if g.nodes[u].get("dtype") != "int64")


def test_gradients_flow_right_to_left_from_the_loss() -> None:
    g = architectures.load("mlp").graph("MLP")
    assert render(g, backward=True).graph_attr["rankdir"] == "RL"
    back = backward_graph(g)
    (loss,) = back.graph["inputs"]
    assert back.nodes[loss]["name"] == "∂loss/∂output"
    assert all(back.nodes[n].get("derivative") for n in back if back.nodes[n]["op"] not in ("input", "output"))


def test_each_weight_gets_its_gradient_with_the_weight_axes() -> None:
    g = architectures.load("mlp").graph("MLP")
    back = backward_graph(g)
    grads = {back.nodes[n]["name"]: back.nodes[n]["axes"] for n in back.graph["outputs"] if n.startswith("grad ")}
    weights = {f"∇ {p['name']}": p["axes"] for n in g for p in g.nodes[n]["params"]}
    assert grads == weights


def test_boxes_of_the_backward_pass_are_derivatives() -> None:
    dot = diagram_dot.parse(render(architectures.load("mlp").graph("MLP"), backward=True).source)
    labels = " ".join(a.get("label", "") + a.get("xlabel", "") for a in dot.nodes.values())
    assert "∂softmax" in labels and "∂relu" in labels and "∂L" in labels
    assert any(a.get("class") == PASSING for *_, a in dot.edges)

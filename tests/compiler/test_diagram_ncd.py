"""Diagrams of programs written in ncdl text (front end + diagram backend)."""

from __future__ import annotations

import diagram_dot
import graphviz
import pytest

import ncdl
from ncdl.compiler.diagram import render
from ncdl.compiler.diagram.style import axis_colours

GPT = """
axis batch
axis seq <= 16
axis key ~ seq
axis vocab = 11, model = 8, heads = 2, head = model / heads, hidden = 4 * model

circuit Attention(q: [seq, head], k: [key, head], v: [key, head]) -> [seq, head] {
    s = contract[head](q, k) / sqrt(head)
    return contract[key](softmax[key](causal[seq, key](s)), v)
}

circuit SelfAttention(x: [seq, model]) -> [seq, model] {
    q = linear[model -> heads head](x, bias=false)
    k = rename[seq -> key](linear[model -> heads head](x, bias=false))
    v = rename[seq -> key](linear[model -> heads head](x, bias=false))
    return linear[heads head -> model](Attention(q, k, v))
}

circuit Block(x: [seq, model]) -> [seq, model] {
    return x + SelfAttention(layernorm[model](x))
}

model GPT(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {
    x = embed[vocab -> model](tokens)
    repeat 3 { x = Block(x) }
    return x -> linear[model -> vocab]
}
"""

MLP = """
axis batch
axis features = 6, classes = 3
model MLP(x: [batch, features]) -> [batch, classes] {
    return x -> linear[features -> classes] -> relu -> softmax[classes]
}
"""


@pytest.fixture(scope="module")
def gpt() -> ncdl.Program:
    return ncdl.loads(GPT)


def _clusters_with(dot: diagram_dot.Dot, circuit: str) -> list[diagram_dot.Cluster]:
    return [c for c in dot.clusters.values() if f"<B>{circuit}</B>" in c.attrs.get("label", "")]


def _ancestors(dot: diagram_dot.Dot, name: str) -> list[str]:
    chain = []
    parent = dot.clusters[name].parent
    while parent is not None:
        chain.append(parent)
        parent = dot.clusters[parent].parent
    return chain


def test_program_render_returns_a_digraph(gpt: ncdl.Program) -> None:
    dot = gpt.render()
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source == render(gpt.graph()).source


def test_the_repeat_folds_and_circuits_nest(gpt: ncdl.Program) -> None:
    dot = diagram_dot.parse(gpt.render(depth=None, panels=False).source)
    (block,) = _clusters_with(dot, "Block")
    assert "×3" in block.attrs["label"]
    (attn,) = _clusters_with(dot, "SelfAttention")
    (inner,) = _clusters_with(dot, "Attention")
    assert block.name in _ancestors(dot, attn.name)
    assert attn.name in _ancestors(dot, inner.name)


def test_expanding_the_repeat_shows_each_block(gpt: ncdl.Program) -> None:
    repeat = next(iter(gpt.graph().graph["repeats"]))
    dot = diagram_dot.parse(gpt.render(depth=None, panels=False, expand=(repeat,)).source)
    assert len(_clusters_with(dot, "SelfAttention")) == 3


def test_depth_zero_draws_the_blocks_as_one_box(gpt: ncdl.Program) -> None:
    dot = diagram_dot.parse(gpt.render(depth=0, panels=False).source)
    (box,) = [a for n, a in dot.nodes.items() if n.startswith("box ")]
    assert "Block" in box["label"] and "×3" in box["label"]


def test_an_unknown_expand_path_is_one_clear_error(gpt: ncdl.Program) -> None:
    repeat = next(iter(gpt.graph().graph["repeats"]))
    with pytest.raises(ValueError, match=f"cannot expand '{repeat}x'.*did you mean '{repeat}'"):
        gpt.render(expand=(repeat + "x",))


def test_each_tensor_is_one_wire_per_axis() -> None:
    g = ncdl.loads(MLP).graph()
    dot = diagram_dot.parse(render(g).source)
    by_colour = {c: a for a, c in axis_colours(g).items()}
    for u, v, data in g.edges(data=True):
        strands = [by_colour[c[:7]] for e in dot.edges_between(u, v) for c in e["color"].split(":")]
        assert sorted(strands) == sorted(data["axes"])


def test_each_result_of_a_model_is_its_own_output_wire() -> None:
    source = """
axis batch, seq, model = 4
model Two(x: [batch, seq, model]) -> (hidden: [batch, seq, model], pooled: [batch, model]) {
    h = relu(x)
    return h, mean[seq](h)
}
"""
    program = ncdl.loads(source)
    g = program.graph()
    dot = diagram_dot.parse(program.render().source)
    outputs = g.graph["outputs"]
    assert len(outputs) == 2
    for node, name in zip(outputs, ["hidden", "pooled"], strict=True):
        assert name in dot.nodes[node]["label"]
        assert [t for t, h, _ in dot.edges if h == node]  # a wire reaches each output

"""Diagram hierarchy: circuits as clusters, folded repeats, depth and expand."""

from __future__ import annotations

import diagram_dot
import diagram_graphs
import pytest

from ncdl.compiler.diagram import render
from ncdl.ir import topological

LINEARS_PER_BLOCK = 6  # q, k, v, o, up, down


def _dot(layers: int = 3, **options: object) -> diagram_dot.Dot:
    options = {"depth": None, "panels": False, **options}
    return diagram_dot.parse(render(diagram_graphs.gpt(layers), **options).source)  # type: ignore[arg-type]


def _open(g: object, **options: object) -> diagram_dot.Dot:
    """Every circuit open unless asked, no definition panels."""
    options = {"depth": None, "panels": False, **options}
    return diagram_dot.parse(render(g, **options).source)  # type: ignore[arg-type]


def _linears(dot: diagram_dot.Dot) -> list[str]:
    return [n for n, a in dot.nodes.items() if ": linear [" in a.get("tooltip", "")]


def test_circuits_are_nested_clusters_labelled_with_name_and_path() -> None:
    dot = _dot(expand=("blocks",))
    attn = dot.clusters["cluster blocks.1.attn"]
    assert attn.parent == "cluster blocks.1"
    assert dot.clusters["cluster blocks.1"].parent == "cluster blocks"
    assert dot.clusters["cluster blocks.1.attn.attention"].parent == "cluster blocks.1.attn"
    assert "SelfAttention" in attn.attrs["label"] and "blocks.1.attn" in attn.attrs["label"]
    assert "Block" in dot.clusters["cluster blocks.1"].attrs["label"]


def test_a_repeat_folds_to_one_cluster_marked_with_its_count() -> None:
    g = diagram_graphs.gpt(3)
    dot = _open(g)
    repeat = dot.clusters["cluster blocks"]
    assert "×3" in repeat.attrs["label"] and "Block" in repeat.attrs["label"]
    assert not any(name.startswith("cluster blocks.1") or name.startswith("cluster blocks.2") for name in dot.clusters)
    assert len(_linears(dot)) == LINEARS_PER_BLOCK + 1
    shown_scopes = {g.nodes[n]["scope"] for n in dot.nodes if n in g}
    assert not any(s.startswith(("blocks.1", "blocks.2")) for s in shown_scopes)


def test_a_folded_repeat_draws_no_wire_back_to_its_start() -> None:
    g = diagram_graphs.gpt(3)
    dot = _open(g)
    position = {n: i for i, n in enumerate(topological(g))}
    for tail, head, _ in dot.edges:
        tail = dot.source(tail)
        if tail in g and head in g:
            assert position[tail] < position[head], (tail, head)


def test_wires_leaving_a_folded_repeat_start_at_iteration_zero() -> None:
    g = diagram_graphs.gpt(3)
    dot = _open(g)
    ln_f = next(n for n in g if g.nodes[n]["scope"] == "ln_f")
    (producer,) = dot.producers(ln_f)
    assert g.nodes[producer]["op"] == "add" and g.nodes[producer]["scope"] == "blocks.0"


def test_expanding_a_repeat_draws_every_iteration_wired_in_sequence() -> None:
    g = diagram_graphs.gpt(3)
    dot = _open(g, expand=("blocks",))
    assert {"cluster blocks.0", "cluster blocks.1", "cluster blocks.2"} <= set(dot.clusters)
    assert "×3" in dot.clusters["cluster blocks"].attrs["label"]
    assert len(_linears(dot)) == 3 * LINEARS_PER_BLOCK + 1
    last_add_0 = [n for n in g if g.nodes[n]["op"] == "add" and g.nodes[n]["scope"] == "blocks.0"][-1]
    ln1_1 = next(n for n in g if g.nodes[n]["scope"] == "blocks.1.ln1")
    assert dot.edges_between(last_add_0, ln1_1)


def test_depth_zero_collapses_the_repeat_into_one_box() -> None:
    g = diagram_graphs.gpt(3)
    dot = _open(g, depth=0)
    assert not dot.clusters
    box = dot.nodes["box blocks"]
    assert "×3" in box["label"] and "Block" in box["label"]
    assert box["shape"] == "box3d" and box["style"] == "bold"
    ln_f = next(n for n in g if g.nodes[n]["scope"] == "ln_f")
    assert dot.edges_between("box blocks", ln_f)
    into = dot.edges_between("n3", "box blocks")  # the embedding + position sum
    passing = [a["tooltip"] for a in into if a.get("class") == "passing"]
    assert passing == ["batch"]


def test_depth_one_keeps_the_repeat_open_and_boxes_its_circuits() -> None:
    dot = _dot(depth=1)
    assert set(dot.clusters) == {"cluster blocks"}
    assert {"box blocks.0.attn", "box blocks.0.mlp"} <= set(dot.clusters["cluster blocks"].nodes)
    assert "SelfAttention" in dot.nodes["box blocks.0.attn"]["label"]


def test_expand_opens_one_path_below_the_depth() -> None:
    dot = _dot(depth=1, expand=("blocks.0.attn",))
    assert "cluster blocks.0.attn" in dot.clusters
    assert "box blocks.0.mlp" in dot.nodes
    assert "box blocks.0.attn.attention" in dot.nodes


def test_expanding_a_later_iteration_unfolds_its_repeat() -> None:
    dot = _dot(depth=0, expand=("blocks.2.attn",))
    assert "cluster blocks.2.attn" in dot.clusters
    assert "box blocks.0" in dot.nodes and "box blocks.1" in dot.nodes
    assert "box blocks.2.mlp" in dot.nodes


@pytest.mark.parametrize("layers", [48])
def test_a_deep_stack_folds_to_one_block(layers: int) -> None:
    g = diagram_graphs.gpt(layers, dropout=True)
    assert g.number_of_nodes() > 1000
    dot = _open(g)
    assert "×48" in dot.clusters["cluster blocks"].attrs["label"]
    assert len([n for n in dot.nodes if n in g]) < 40


def test_iterations_that_differ_fold_into_a_single_box() -> None:
    b = diagram_graphs.Builder("Odd", {"n": 4})
    x = b.op("input", [], ["n"], attrs={"name": "x"})
    b.g.graph["inputs"].append(x)
    with b.repeat("layers", 2):
        with b.iteration(0):
            x = b.op("relu", [x], ["n"])
        with b.iteration(1):
            x = b.op("tanh", [x], ["n"])
            x = b.op("relu", [x], ["n"])
    b.g.graph["outputs"].append(b.op("output", [x], ["n"], attrs={"name": "y"}))
    dot = _open(b.g)
    assert "×2" in dot.nodes["box layers"]["label"]
    assert dot.edges_between("n0", "box layers") and dot.edges_between("box layers", "n4")


def test_a_folded_repeat_shows_each_parameter_that_differs_between_iterations() -> None:
    import ncdl

    program = ncdl.loads(
        """axis batch, n = 4
circuit Layer[n, shift: int](x: [n]) -> [n] { return linear[n -> n](x) }
circuit Stage[n, k: int](x: [n]) -> [n] {
    repeat i in 2 as blocks {
        if i == 1 { x = Layer[shift=k](x) } else { x = Layer[shift=0](x) }
    }
    return x
}
model M(x: [batch, n]) -> [batch, n] { return Stage[k=2](x) as stage }
"""
    )
    dot = diagram_dot.parse(render(program.graph(), depth=1, panels=False).source)
    (label,) = [a["label"] for n, a in dot.nodes.items() if "×2" in a.get("label", "")]
    assert "Layer(shift=0/2)" in label

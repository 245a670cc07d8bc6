"""Diagram wires: one coloured wire per axis, broadcast wires pass by, the legend."""

from __future__ import annotations

import diagram_dot
import diagram_graphs
import networkx as nx
import pytest

from ncdl.compiler.diagram import render
from ncdl.compiler.diagram.render import LEGEND
from ncdl.compiler.diagram.style import PALETTE, PASSING_ALPHA, axis_colours


def _wire_axes(dot: diagram_dot.Dot, tail: str, head: str, colours: dict[str, str]) -> list[tuple[str, bool]]:
    """(axis, solid) for every strand of every edge tail -> head."""
    by_colour = {c: a for a, c in colours.items()}
    strands = []
    for attrs in dot.edges_between(tail, head):
        for colour in attrs["color"].split(":"):
            strands.append((by_colour[colour[:7]], attrs.get("style") != "dashed"))
    return strands


def _flat(g: nx.MultiDiGraph) -> diagram_dot.Dot:
    return diagram_dot.parse(render(g).source)


def test_colours_follow_the_axis_table_order() -> None:
    g = diagram_graphs.mlp()
    assert axis_colours(g) == {"batch": PALETTE[0], "features": PALETTE[1], "classes": PALETTE[2]}


def test_every_tensor_is_one_wire_per_axis_in_its_colour() -> None:
    g = diagram_graphs.mlp()
    dot = _flat(g)
    colours = axis_colours(g)
    for u, v, data in g.edges(data=True):
        strands = _wire_axes(dot, u, v, colours)
        assert sorted(a for a, _ in strands) == sorted(data["axes"]), (u, v)


def test_axes_a_box_names_enter_it_and_the_others_pass_by() -> None:
    g = diagram_graphs.mlp()
    dot = _flat(g)
    colours = axis_colours(g)
    x, linear, relu, softmax = "n0", "n1", "n2", "n3"
    assert sorted(_wire_axes(dot, x, linear, colours)) == [("batch", False), ("features", True)]
    assert sorted(_wire_axes(dot, linear, relu, colours)) == [("batch", True), ("classes", True)]
    assert sorted(_wire_axes(dot, relu, softmax, colours)) == [("batch", False), ("classes", True)]
    (passing,) = [a for a in dot.edges_between(x, linear) if a.get("style") == "dashed"]
    assert passing["color"] == colours["batch"] + PASSING_ALPHA
    assert passing["headport"] == "n"


def test_a_contraction_joins_the_summed_wire_from_both_inputs() -> None:
    g = diagram_graphs.gpt(1)
    dot = _flat(g)
    colours = axis_colours(g)
    (contract,) = [n for n in g if g.nodes[n]["op"] == "contract" and g.nodes[n]["attrs"]["over"] == ["head"]]
    assert "Σ" in dot.nodes[contract]["label"] and colours["head"] in dot.nodes[contract]["label"]
    for producer in [u for u, _ in g.in_edges(contract)]:
        solid = [a for a, s in _wire_axes(dot, producer, contract, colours) if s]
        assert solid == ["head"]


def test_learned_boxes_are_bold_and_show_parameter_shapes() -> None:
    dot = _flat(diagram_graphs.mlp())
    linear, relu = dot.nodes["n1"], dot.nodes["n2"]
    assert linear["style"] == "bold"
    assert "weight 3×8" in linear["label"] and "bias 3" in linear["label"]
    assert "bold" not in relu.get("style", "")


def test_legend_lists_every_axis_with_its_colour_and_size() -> None:
    g = diagram_graphs.gpt(1)
    label = _flat(g).nodes[LEGEND]["label"]
    for name, colour in axis_colours(g).items():
        assert f'BGCOLOR="{colour}"' in label
        assert f">{name}<" in label
    assert "seq ≤ 256 (free)" in label and "batch (free)" in label and ">512<" in label


def test_inputs_start_the_reading_order() -> None:
    g = diagram_graphs.gpt(1)
    dot = _flat(g)
    (source,) = [nodes for rank, nodes in dot.ranks if rank == "source"]
    assert set(g.graph["inputs"]) <= set(source)
    assert render(g).graph_attr["rankdir"] == "LR"


def test_rendering_is_deterministic() -> None:
    assert render(diagram_graphs.gpt(2)).source == render(diagram_graphs.gpt(2)).source


def test_top_to_bottom_diagrams_pass_broadcast_wires_along_the_side() -> None:
    dot = diagram_dot.parse(render(diagram_graphs.mlp(), rankdir="TB").source)
    (passing,) = [a for a in dot.edges_between("n0", "n1") if a.get("style") == "dashed"]
    assert passing["headport"] == "w"


def test_bad_options_are_one_line_errors() -> None:
    g = diagram_graphs.mlp()
    with pytest.raises(ValueError, match="rankdir must be one of LR, RL, TB, BT"):
        render(g, rankdir="XY")
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        render(g, depth=-1)

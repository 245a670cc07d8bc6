"""Diagram wires: one coloured wire per axis, broadcast wires pass by, labels, the legend."""

from __future__ import annotations

import diagram_dot
import diagram_graphs
import networkx as nx
import pytest

from ncdl.compiler.diagram import render
from ncdl.compiler.diagram.labels import simplified
from ncdl.compiler.diagram.render import LEGEND, PASSING
from ncdl.compiler.diagram.style import PALETTE, PASSING_ALPHA, PASSING_WIDTH, axis_colours


def _wire_axes(dot: diagram_dot.Dot, tail: str, head: str, colours: dict[str, str]) -> list[tuple[str, bool]]:
    """(axis, solid) for every strand of every edge tail -> head."""
    by_colour = {c: a for a, c in colours.items()}
    strands = []
    for attrs in dot.edges_between(tail, head):
        for colour in attrs["color"].split(":"):
            strands.append((by_colour[colour[:7]], attrs.get("class") != PASSING))
    return strands


def _labels_from(dot: diagram_dot.Dot, tail: str) -> str:
    """Every wire label on the wires leaving ``tail`` (through copy dots and row stubs)."""
    return " ".join(a.get("xlabel", "") for t, h, a in dot.edges if dot.source(t) == tail)


def _flat(g: nx.MultiDiGraph, **options: object) -> diagram_dot.Dot:
    options = {"depth": None, "panels": False, **options}
    return diagram_dot.parse(render(g, **options).source)  # type: ignore[arg-type]


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
    (passing,) = [a for a in dot.edges_between(x, linear) if a.get("class") == PASSING]
    assert passing["color"] == colours["batch"] + PASSING_ALPHA
    assert passing["penwidth"] == PASSING_WIDTH and "style" not in passing  # continuous, not dashed


def test_a_contraction_joins_the_summed_wire_from_both_inputs() -> None:
    g = diagram_graphs.gpt(1)
    dot = _flat(g)
    colours = axis_colours(g)
    (contract,) = [n for n in g if g.nodes[n]["op"] == "contract" and g.nodes[n]["attrs"]["over"] == ["head"]]
    node = dot.nodes[contract]
    assert node["shape"] == "circle" and node["style"] == "wedged" and "Σ" in node["xlabel"]
    assert colours["head"] in node["fillcolor"] and colours["head"] in node["xlabel"]
    for producer in [u for u, _ in g.in_edges(contract)]:
        solid = [a for a, s in _wire_axes(dot, producer, contract, colours) if s]
        assert solid == ["head"]
    into = [a for t, h, a in dot.edges if h == contract]
    assert into and all(a["headclip"] == "false" and a["arrowhead"] == "none" for a in into)  # the wires join


def test_learned_boxes_are_bold_with_parameter_shapes_in_the_tooltip() -> None:
    dot = _flat(diagram_graphs.mlp())
    linear, relu = dot.nodes["n1"], dot.nodes["n2"]
    assert linear["style"] == "bold"
    assert "weight 3×8" in linear["tooltip"] and "bias 3" in linear["tooltip"]
    assert "bold" not in relu.get("style", "")


def test_the_legend_lists_the_visible_axes_with_colour_and_size() -> None:
    g = diagram_graphs.gpt(1)
    label = _flat(g).nodes[LEGEND]["label"]
    for name, colour in axis_colours(g).items():
        assert f'BGCOLOR="{colour}"' in label
        assert f">{name}<" in label
    assert "seq ≤ 256 (free)" in label and "batch (free)" in label and ">512<" in label


def test_the_legend_leaves_out_axes_no_wire_shows() -> None:
    g = diagram_graphs.gpt(1)
    label = _flat(g, depth=0).nodes[LEGEND]["label"]
    assert ">head<" not in label and ">model<" in label


def test_visible_axes_never_share_a_colour() -> None:
    g = diagram_graphs.gpt(1)
    colours = axis_colours(g, {"head", "model", "seq"})
    assert len({colours["head"], colours["model"], colours["seq"]}) == 3
    assert PALETTE[0] in {colours["head"], colours["model"], colours["seq"]}  # the visible axes come first


def test_a_wire_is_labelled_where_it_enters_and_where_it_changes() -> None:
    g = diagram_graphs.mlp()
    dot = _flat(g)
    x, linear, relu = "n0", "n1", "n2"
    assert "features" in _labels_from(dot, x)
    assert "classes" in _labels_from(dot, linear)
    assert not _labels_from(dot, relu).strip()  # relu keeps the axes


def test_wire_labels_show_sizes_on_request() -> None:
    dot = _flat(diagram_graphs.mlp(), labels="sizes")
    (label,) = [a["xlabel"] for a in dot.edges_between("n0", "n1") if "xlabel" in a]
    assert ">8<" in label and "features" not in label
    assert not any("xlabel" in a for t, h, a in _flat(diagram_graphs.mlp(), labels="none").edges)


def test_inputs_start_the_reading_order() -> None:
    g = diagram_graphs.gpt(1)
    dot = _flat(g)
    for n in g.graph["inputs"]:
        x = float(dot.nodes[n]["pos"].split(",")[0])
        for v in g.successors(n):
            assert x < float(dot.nodes[v]["pos"].split(",")[0])


def test_rendering_is_deterministic() -> None:
    assert render(diagram_graphs.gpt(2)).source == render(diagram_graphs.gpt(2)).source


def test_a_value_used_twice_fans_out_at_a_copy_dot() -> None:
    dot = _flat(diagram_graphs.gpt(1))
    copies = [n for n in dot.nodes if n.startswith("copy ")]
    assert copies and all(dot.nodes[c]["shape"] == "point" for c in copies)
    for c in copies:
        value = dot.source(c)
        heads = {h for t, h, _ in dot.edges if dot.source(t) == value and not h.startswith(("copy ", "to "))}
        assert len(heads) > 1


def test_bad_options_are_one_line_errors() -> None:
    g = diagram_graphs.mlp()
    with pytest.raises(ValueError, match="rankdir must be one of LR, RL, TB, BT"):
        render(g, rankdir="XY")
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        render(g, depth=-1)
    with pytest.raises(ValueError, match="labels must be one of names, sizes, both, none"):
        render(g, labels="axes")


def test_derived_axis_names_are_simplified_for_display() -> None:
    assert [simplified(n) for n in ("y/2/2", "x/2/2/2", "2*2*width", "16*width", "(y+1)/2")] == [
        "y/4",
        "x/8",
        "4·width",
        "16·width",
        "(y+1)/2",
    ]


def test_the_attention_scale_is_written_as_a_power_of_the_head_axis() -> None:
    g = diagram_graphs.gpt(1)
    (scale,) = [n for n in g if g.nodes[n]["op"] == "div" and g.nodes[n]["attrs"]["const"] is not None]
    label = _flat(g).nodes[scale]["label"]
    assert "−½" in label and ">head<" in label and "÷" not in label

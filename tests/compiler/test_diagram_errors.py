"""A graph cut short by a type error: drawn as given, the bad wire in red."""

from __future__ import annotations

import html

import diagram_dot
import diagram_graphs

from ncdl.compiler.diagram import render
from ncdl.compiler.diagram.render import ERROR_NOTE
from ncdl.compiler.diagram.style import ERROR

MESSAGE = "softmax[features] needs axis 'features'; x has [batch, classes]"
TYPES = "[batch, classes] vs [batch, features]"


def _broken() -> diagram_dot.Dot:
    g = diagram_graphs.mlp()
    g.edges["n2", "n3", 0]["error"] = TYPES
    g.graph["error"] = {"message": MESSAGE}
    return diagram_dot.parse(render(g).source)


def test_the_error_wire_is_red_and_labelled_with_both_types() -> None:
    dot = _broken()
    (edge,) = dot.edges_between("n2", "n3")
    assert edge["color"] == ERROR
    assert edge["label"] == TYPES


def test_the_rest_of_the_graph_is_drawn_as_usual() -> None:
    dot = _broken()
    assert {"n0", "n1", "n2", "n3", "n4"} <= set(dot.nodes)
    assert all(a["color"] != ERROR for t, h, a in dot.edges if (t, h) != ("n2", "n3") and t != ERROR_NOTE)


def test_a_red_note_carries_the_message() -> None:
    dot = _broken()
    note = dot.nodes[ERROR_NOTE]
    assert note["shape"] == "note" and note["color"] == ERROR
    assert MESSAGE in html.unescape(note["label"])


def test_no_note_without_an_error() -> None:
    assert ERROR_NOTE not in diagram_dot.parse(render(diagram_graphs.mlp()).source).nodes

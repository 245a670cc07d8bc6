"""Every glyph kind of the op registry has a drawing, and every op draws through it."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

from ncdl.compiler.diagram.labels import GLYPH_DRAWINGS, cup_paint, node_label
from ncdl.ir.ops import GLYPHS, OPS, REQUIRED, Attr

COLOURS = {"a": "#111111", "b": "#222222"}
#: The glyphs the paper draws as a shape of their own, and that shape.
PAPER_SHAPES = {"softmax": "triangle", "cup": "circle", "norm": "circle", "conv": "trapezium"}
SAMPLE = {
    "axis": "a",
    "axis?": "b",
    "axes": ["a"],
    "pairs": [["a", "b"]],
    "map": {"a": "b"},
    "int": 2,
    "ints": [3],
    "float": 0.5,
    "float?": None,
    "bool": True,
    "str": "x",
}


def _value(attr: Attr) -> Any:
    return attr.default if attr.default is not REQUIRED else SAMPLE[attr.kind]


def test_the_drawings_are_exactly_the_registry_glyphs() -> None:
    assert set(GLYPH_DRAWINGS) == set(GLYPHS)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_draws_with_its_title(op: str) -> None:
    node = {"op": op, "attrs": {k: _value(a) for k, a in OPS[op].attrs.items()}, "axes": ["a", "b"], "params": []}
    label, attrs = node_label(node, COLOURS)
    assert OPS[op].glyph in GLYPHS
    assert label.startswith("<") and label.endswith(">")
    assert attrs["shape"] in ("box", "ellipse", *PAPER_SHAPES.values())
    if OPS[op].glyph in PAPER_SHAPES:  # the paper's shape; its title sits beside it
        assert attrs["shape"] == PAPER_SHAPES[OPS[op].glyph]
        assert escape(OPS[op].title) in attrs["xlabel"]
    elif OPS[op].glyph != "port":
        assert escape(OPS[op].title) in label


def test_a_contraction_cup_is_a_half_disc_in_the_colours_of_the_summed_axes() -> None:
    node = {"op": "contract", "attrs": {"over": ["a", "b"]}, "axes": ["c"], "params": []}
    _, attrs = node_label(node, COLOURS)
    assert attrs["style"] == "wedged" and attrs["penwidth"] == "0"
    # counter-clockwise from 3 o'clock: a's upper right band, the open left half, b's lower right band, then a's
    assert attrs["fillcolor"] == f"{COLOURS['a']};0.2500:transparent;0.5000:{COLOURS['b']};0.2500"
    one = cup_paint(["#111111"])
    assert one == "#111111;0.2500:transparent;0.5000:#111111;0.2500"

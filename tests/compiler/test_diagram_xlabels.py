"""Wire labels and glyph titles are drawn clear of boxes, as ``dot`` routed the wires."""

from __future__ import annotations

import importlib
import json

import diagram_dot
import pytest

from ncdl import architectures
from ncdl.compiler.diagram.page import layout

xlabels = importlib.import_module("ncdl.compiler.diagram.xlabels")


@pytest.fixture(scope="module")
def gpt() -> dict:
    """The bundled GPT's default diagram as Graphviz draws it (``neato -n2 -Tjson``)."""
    return layout(architectures.load("gpt").render("GPT"))


def _rects(drawn: dict) -> tuple[list[tuple], list[tuple[str, tuple]], list[tuple[str, tuple]]]:
    """Node boxes, node xlabels and edge xlabels of a drawn diagram, in points."""
    boxes, titles, wires = [], [], []
    for obj in drawn["objects"]:
        if "pos" not in obj:
            continue
        box = xlabels._node_rect(obj)
        boxes.append(box)
        if "xlp" in obj:
            titles.append((obj["name"], xlabels._text_rect(xlabels._node_label_ops(obj, box))))
    for edge in drawn["edges"]:
        if "xlp" in edge:
            ops = [op for op in edge.get("_ldraw_", []) if op["op"] in ("T", "F")]
            wires.append((edge["id"], xlabels._text_rect(ops)))
    return boxes, titles, wires


def test_every_wire_keeps_the_route_dot_gave_it() -> None:
    source = architectures.load("gpt").render("GPT").source
    edges = diagram_dot.parse(source).edges
    assert edges and all("pos" in attrs for _, _, attrs in edges)  # not redrawn as straight lines


def test_no_wire_label_or_glyph_title_covers_a_box(gpt: dict) -> None:
    boxes, titles, wires = _rects(gpt)
    assert len(wires) > 20 and len(titles) >= 3  # LayerNorm circles, the softmax triangle, the cups
    shrink = 0.5  # Graphviz rounds text widths; a touch is not a cover
    for name, rect in titles + wires:
        inner = (rect[0] + shrink, rect[1] + shrink, rect[2] - shrink, rect[3] - shrink)
        covered = [b for b in boxes if xlabels._overlap(inner, b) and not _touching(inner, b)]
        assert not covered, (name, rect, covered)


def test_no_two_labels_overlap(gpt: dict) -> None:
    _, titles, wires = _rects(gpt)
    rects = [r for _, r in titles + wires]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_a_norm_title_touches_its_circle(gpt: dict) -> None:
    for obj in gpt["objects"]:
        if obj.get("shape") == "circle" and "xlp" in obj:
            box = xlabels._node_rect(obj)
            title = xlabels._text_rect(xlabels._node_label_ops(obj, box))
            gap_y = max(title[1] - box[3], box[1] - title[3])
            gap_x = max(title[0] - box[2], box[0] - title[2])
            assert max(gap_x, gap_y) <= 3 * xlabels.PAD, (obj["name"], box, title)


def test_settling_keeps_a_free_label_where_dot_put_it() -> None:
    free = {
        "bb": "0,0,200,60",
        "objects": [{"name": "a", "_gvid": 0, "pos": "20,30", "width": "0.5", "height": "0.5"}],
        "edges": [
            {
                "_gvid": 0,
                "pos": "e,190,30 38,30 80,30 120,30 180,30",
                "xlp": "100,45",
                "_ldraw_": [{"op": "F", "size": 9.0}, {"op": "T", "pt": [100, 42], "align": "c", "width": 20.0}],
            }
        ],
    }
    moved = json.loads(json.dumps(free))
    xlabels.settle(moved)
    assert moved["edges"][0]["xlp"] == "100.00,45.00" and moved["bb"] == "0.00,0.00,200.00,60.00"
    covering = json.loads(json.dumps(free))
    covering["edges"][0]["xlp"] = "20,30"  # on the box
    covering["edges"][0]["_ldraw_"][1]["pt"] = [20, 27]
    xlabels.settle(covering)
    x, y = (float(v) for v in covering["edges"][0]["xlp"].split(","))
    assert (x, y) != (20, 30) and not xlabels._overlap(xlabels._text_rect(_at(covering, x, y)), (2, 12, 38, 48))


def _at(layout_: dict, x: float, y: float) -> list[dict]:
    """The label's text operations moved to its new xlp."""
    ops = json.loads(json.dumps(layout_["edges"][0]["_ldraw_"]))
    ops[1]["pt"] = [x, y - 3]
    return ops


def _touching(a: tuple, b: tuple) -> bool:
    """True when two rects only share an edge (within rounding)."""
    return min(a[2], b[2]) - max(a[0], b[0]) < 1.0 or min(a[3], b[3]) - max(a[1], b[1]) < 1.0

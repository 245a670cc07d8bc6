"""A program with a mistake still yields the graph built up to it, with the
offending wires marked, so `ncdl render` can draw where it went wrong."""

from __future__ import annotations

import pytest

import ncdl

BROKEN = """axis batch, seq <= 64
axis model = 32, hidden = 64
model Broken(x: [batch, seq, model]) -> [batch, seq, model] {
    h = linear[model -> hidden](layernorm[model](x)) as up
    return x + gelu(h)
}
"""


def test_axis_mismatch_keeps_the_partial_graph_with_error_wires() -> None:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(BROKEN, "broken.ncd")
    g = info.value.graphs["Broken"]
    assert g.graph["error"]["message"] == (
        "broken.ncd:5:12: error[E120]: axis mismatch in `+`: [batch, seq, model] and [batch, seq, hidden]"
    )
    wires = [d["error"] for _, _, d in g.edges(data=True) if "error" in d]
    assert wires == ["[batch, seq, model] + [batch, seq, hidden]"] * 2
    ops = [g.nodes[n]["op"] for n in g]
    assert ops[:4] == ["input", "layernorm", "linear", "gelu"]


def test_the_diagram_draws_the_error_wire_in_red() -> None:
    from ncdl.compiler.diagram import render

    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(BROKEN, "broken.ncd")
    source = render(info.value.graphs["Broken"]).source
    assert source.count("[batch, seq, model] + [batch, seq, hidden]") >= 2
    assert "axis mismatch in `+`" in source


def test_missing_axis_marks_the_wire_into_the_box() -> None:
    source = BROKEN.replace("return x + gelu(h)", "return softmax[model](h)")
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "broken.ncd")
    g = info.value.graphs["Broken"]
    (label,) = [d["error"] for _, _, d in g.edges(data=True) if "error" in d]
    assert label == "has [batch, seq, hidden], softmax needs model"


RESULT_MISMATCH = """axis batch
axis a = 4, b = 8
circuit Widen(x: [a]) -> [a] {
    return linear[a -> b](x) as up
}
model M(x: [batch, a]) -> [batch, a] {
    return Widen(x)
}
"""


def test_render_text_draws_a_broken_program_up_to_its_error() -> None:
    diagram, error = ncdl.render_text(BROKEN, path="broken.ncd")
    assert error is not None and error.diagnostics[0].code == "E120"
    assert diagram is not None and "axis mismatch in `+`" in diagram.source
    good, none = ncdl.render_text(BROKEN.replace("gelu(h)", "linear[hidden -> model](gelu(h))"))
    assert none is None and good is not None


def test_an_error_inside_a_circuit_is_anchored_on_the_box_it_follows() -> None:
    from ncdl.compiler.diagram.render import ERROR_NOTE

    diagram, error = ncdl.render_text(RESULT_MISMATCH, depth=None, panels=False)
    assert error is not None and error.diagnostics[0].code == "E145"
    assert diagram is not None
    anchors = [line for line in diagram.source.splitlines() if line.strip().startswith(f"{ERROR_NOTE} ->")]
    assert len(anchors) == 1 and '"Widen' not in anchors[0]

"""`ncdl render FILE --circuit NAME`: a library circuit drawn with its axes symbolic."""

from __future__ import annotations

from pathlib import Path

import diagram_dot
import pytest

import ncdl
from ncdl.cli import main
from ncdl.compiler.diagram.render import LEGEND

ATTENTION = Path(__file__).resolve().parents[2] / "ncdl" / "architectures" / "attention.ncd"


@pytest.fixture(scope="module")
def attention() -> ncdl.Program:
    return ncdl.load(str(ATTENTION)).symbolic_circuit("Attention")


def test_a_number_read_from_a_symbolic_axis_takes_a_stand_in(attention: ncdl.Program) -> None:
    g = attention.graph()
    assert attention.models == ["Attention"]
    assert [str(g.graph["axes"][a].size) for a in ("query", "key", "head")] == ["query", "key", "head"]
    assert list(g.graph["stand_ins"]) == ["head"]  # sqrt(head) is the only number read from an axis
    stand_in = g.graph["stand_ins"]["head"]
    assert stand_in > 1000 and all(stand_in % d for d in range(2, int(stand_in**0.5) + 1))  # a prime
    scale = [d["attrs"]["const"] for _, d in g.nodes(data=True) if d["op"] == "div"]
    assert scale == [pytest.approx(stand_in**0.5)]


def test_without_symbolic_the_same_circuit_still_needs_sizes() -> None:
    with pytest.raises(ncdl.NcdlError, match=r"error\[E109\]: axis 'head' has no fixed size"):
        ncdl.load(str(ATTENTION)).circuit("Attention")


def test_the_attention_circuit_is_drawn_as_the_papers_figure_20(attention: ncdl.Program) -> None:
    dot = diagram_dot.parse(attention.render().source)
    labels = [n.get("label", "") for n in dot.nodes.values()]
    assert sum("× " in t and "head</FONT><SUP>−½</SUP>" in t for t in labels) == 1  # the scale, symbolic
    assert sum(n.get("shape") == "triangle" for n in dot.nodes.values()) == 1  # softmax over key
    legend = dot.nodes[LEGEND]["label"]
    for axis in ("query", "key", "head"):
        assert f'>{axis}</FONT></TD><TD ALIGN="LEFT">{axis} (free)</TD>' in legend  # sizes stay symbols


def test_cli_renders_a_library_circuit_without_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "attention.svg"
    assert main(["render", str(ATTENTION), "--circuit", "Attention", "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote {out}\n"
    svg = out.read_text()
    assert "head" in svg and "−½" in svg and "E109" not in svg
    # check and compile still need the sizes (a stand-in is for drawing only)
    assert main(["check", str(ATTENTION), "--circuit", "Attention"]) == 1
    assert "error[E109]" in capsys.readouterr().err


def test_a_position_read_from_a_symbolic_axis_is_drawn_as_that_axis() -> None:
    source = """\
circuit Turn[head, half = head / 2](x: [head]) -> [head] {
    return roll[head](x, shift=half) - roll[head](x, shift=-half)
}
"""
    program = ncdl.loads(source, "turn.ncd").symbolic_circuit("Turn")
    dot = diagram_dot.parse(program.render().source)
    rolls = sorted(n["label"] for n in dot.nodes.values() if "roll" in n.get("label", ""))
    half = '<FONT COLOR="#000000">half</FONT>'
    assert rolls == [f'<roll <FONT COLOR="#1f77b4">head</FONT> by {sign}{half}>' for sign in ("", "−")]
    stand_in = str(int(program.graph().graph["stand_ins"]["half"]))
    assert all(stand_in not in label for label in rolls)


def test_a_slice_bounded_by_a_symbolic_axis_has_that_axis_size() -> None:
    # the rotate-half spelling: each half of a free `head` is exactly `half`, provably, when drawn alone
    source = """\
circuit Halves[head, half = head / 2](x: [head]) -> [head] {
    x1 = slice[head -> half](x, stop=half)
    x2 = slice[head -> half](x, start=half)
    return concat[half, half -> head](-x2, x1)
}
"""
    program = ncdl.loads(source, "halves.ncd").symbolic_circuit("Halves")
    dot = diagram_dot.parse(program.render().source)
    slices = sorted(n["label"] for n in dot.nodes.values() if "slice" in n.get("label", ""))
    half = '<FONT COLOR="#ff7f0e">half</FONT>'
    assert [label.count(half) for label in slices] == [2, 2]  # the bound and the new axis
    assert not any("error" in n.get("label", "") for n in dot.nodes.values())

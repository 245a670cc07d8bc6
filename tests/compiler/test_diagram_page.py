"""Every bundled model's default diagram fits a page, and together they show every glyph."""

from __future__ import annotations

import re
import warnings

import diagram_dot
import diagram_graphs
import graphviz
import pytest

import ncdl
from ncdl import architectures
from ncdl.compiler.diagram import PageWarning, render
from ncdl.compiler.diagram.page import COLUMN_PT, MAX_ASPECT, MIN_TEXT_PT, measure
from ncdl.compiler.diagram.render import LEGEND
from ncdl.ir.ops import GLYPHS, OPS

MODELS = [(name, model) for name in architectures.list_architectures() for model in architectures.load(name).models]


@pytest.fixture(scope="module")
def drawn() -> dict[tuple[str, str], graphviz.Digraph]:
    """The default diagram of every bundled model (drawn once for the module)."""
    out = {}
    for name, model in MODELS:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PageWarning)  # the default view never warns
            out[name, model] = architectures.load(name).render(model)
    return out


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_the_default_view_fits_a_page(drawn: dict, name: str, model: str) -> None:
    page = measure(drawn[name, model])  # laid out as drawn (neato -n2), measured from Graphviz's JSON
    assert page.aspect <= MAX_ASPECT, page.describe()
    assert page.font * min(1.0, COLUMN_PT / page.width) >= MIN_TEXT_PT, page.describe()


#: Library circuits drawn with their axes symbolic (``ncdl render FILE --circuit NAME``).
CIRCUITS = [("attention", "Attention"), ("attention", "CausalAttention")]


@pytest.mark.parametrize(("name", "circuit"), CIRCUITS)
def test_a_symbolic_library_circuit_fits_a_page(name: str, circuit: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PageWarning)
        page = measure(architectures.load(name).symbolic_circuit(circuit).render())
    assert page.fits, page.describe()


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_no_two_visible_axes_share_a_colour(drawn: dict, name: str, model: str) -> None:
    legend = diagram_dot.parse(drawn[name, model].source).nodes[LEGEND]["label"]
    swatches = re.findall(r'BGCOLOR="(#[0-9a-f]{6})"', legend)
    assert swatches and len(swatches) == len(set(swatches))


#: Boxes that no bundled model draws at its default view: a scan and routing.
ROUTING_AND_SCANS = [
    "axis batch, seq, inner = 8\n"
    "model Recur(a: [batch, seq, inner], b: [batch, seq, inner]) -> [batch, seq, inner] {\n"
    "    return scan[seq](a, b) + cumsum[seq](b)\n}",
    "axis tok, expert = 4, choice = 2\n"
    "model Route(x: [tok, expert]) -> [tok, expert] {\n"
    "    w, top = topk[expert -> choice](x, k=2)\n"
    "    return scatter[choice -> expert](softmax[choice](w), top)\n}",
]


def test_every_glyph_of_the_registry_is_drawn_somewhere(drawn: dict) -> None:
    sources = [d.source for d in drawn.values()]
    sources += [render(diagram_graphs.gpt(1, dropout=True), depth=None, panels=False).source]
    sources += [render(ncdl.loads(text).graph(), depth=None, panels=False).source for text in ROUTING_AND_SCANS]
    ops = set()
    for source in sources:
        for attrs in diagram_dot.parse(source).nodes.values():
            found = re.match(r"[^:]*: (\w+) \[", attrs.get("tooltip", ""))
            if found:
                ops.add(found.group(1))
    assert {OPS[op].glyph for op in ops if op in OPS} | {"port"} == set(GLYPHS)


def test_a_view_larger_than_a_page_warns_with_the_depth_that_fits() -> None:
    g = architectures.load("gpt").graph("GPT")
    with pytest.warns(PageWarning, match=r"larger than a page .*`--depth 0( --no-panels)?` keeps it readable"):
        render(g, depth=None, panels=False)


def test_python_render_uses_the_command_line_defaults() -> None:
    program = architectures.load("mha")
    assert program.render("MultiHead").source == render(program.graph("MultiHead"), depth="auto").source

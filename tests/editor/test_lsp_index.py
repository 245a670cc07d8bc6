"""The editor index (ncdl.lsp.index) and the features built on it, without a client."""

from __future__ import annotations

from pathlib import Path

from ncdl.lsp import features
from ncdl.lsp.index import build

ROOT = Path(__file__).resolve().parents[2]
GPT = ROOT / "tests/dsl/programs/gpt.ncd"

PROGRAM = """\
axis batch, n = 4, two = 2

circuit Stage[c, k: int](x: [c]) -> [c] {
    repeat i in k { x = x + linear[c -> c](x) }
    h = split[c -> two half](x)
    return merge[two half -> c](h)
}

model M(x: [batch, n]) -> [batch, n] {
    return Stage[c=n, k=2](x)
}
"""


def at(text: str, needle: str, nth: int = 0, offset: int = 0) -> tuple[int, int]:
    """1-based line and column of the ``nth`` ``needle`` (plus ``offset``)."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += offset
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def test_a_reassigned_value_goes_to_the_assignment_before_the_use() -> None:
    text = GPT.read_text()
    index = build(text, str(GPT))
    use = index.at(str(GPT), *at(text, "return x + MLP", offset=7))
    assert (use.symbol.kind, use.symbol.container) == ("value", "Block")
    assert (index.definition(use).line, index.definition(use).col) == at(text, "x = x + SelfAttention")
    defs = [o.span.line for o in index.references(use.symbol) if o.is_definition]
    assert defs == [at(text, "Block(x: [")[0], at(text, "x = x + SelfAttention")[0]]
    axes, g = index.value_axes(use)
    assert axes == ["batch", "seq", "model"] and g.graph["model"] == "GPT"


def test_parameters_repeat_indices_and_axes_a_box_introduces_are_local() -> None:
    index = build(PROGRAM, "/p/prog.ncd")
    kinds = {(s.name, s.kind, s.container) for s in index.symbols("/p/prog.ncd")}
    assert {("c", "axis", "Stage"), ("k", "int", "Stage"), ("i", "int", "Stage")} <= kinds
    assert {("two", "axis", ""), ("half", "axis", "Stage"), ("n", "axis", ""), ("M", "model", "")} <= kinds
    bound = index.at("/p/prog.ncd", *at(PROGRAM, "c=n"))
    assert (bound.symbol.name, bound.symbol.kind, bound.symbol.container) == ("c", "axis", "Stage")
    refs = index.references(index.at("/p/prog.ncd", *at(PROGRAM, "k: int")).symbol)
    assert [(o.span.line, o.span.col) for o in refs] == [at(PROGRAM, "k: int"), at(PROGRAM, "k {"), at(PROGRAM, "k=2")]


def test_hover_texts() -> None:
    index = build(PROGRAM, "/p/prog.ncd")
    text = features.hover(index, "/p/prog.ncd", *at(PROGRAM, "n = 4"))
    assert text.startswith("global axis `n`") and "| `n` | 4 |" in text
    text = features.hover(index, "/p/prog.ncd", *at(PROGRAM, "k: int"))
    assert text == "```ncdl\nk: int\n```\ninteger parameter of `Stage`"
    text = features.hover(index, "/p/prog.ncd", *at(PROGRAM, "Stage[c=n"))
    assert text.startswith("```ncdl\ncircuit Stage[c, k: int](x: [c]) -> [c]\n```") and "1 instance: `stage`" in text
    text = features.hover(index, "/p/prog.ncd", *at(PROGRAM, "h = split"))
    assert "value `h` in `Stage`: `[batch, two, half]`" in text
    assert features.hover(index, "/p/prog.ncd", *at(PROGRAM, "split", offset=1)).startswith("box `split`")


def test_a_value_no_model_keeps_says_so() -> None:
    text = PROGRAM.replace("    return merge", "    unused = relu(x)\n    return merge")
    index = build(text, "/p/prog.ncd")
    hover = features.hover(index, "/p/prog.ncd", *at(text, "unused"))
    assert hover == "value `unused` in `Stage`\n\n(no model computes it: unused, or no model calls the circuit)"


def test_a_program_that_does_not_parse_gives_its_diagnostic_and_an_empty_index() -> None:
    index = build("axis a\nmodel M(x: [a]) -> [a] { return x -> }\n", "/p/bad.ncd")
    assert [d.code for d in index.diagnostics] == ["E001"] and index.occurrences == []


SIGNATURES = """\
axis batch, seq, key ~ seq, d = 4

circuit Two[eps: float = 1e-5, on: bool = true](x: [seq, d], m: [seq, key]?) -> (a: [seq, d], b: [seq, d]) {
    if on and m { x = x * eps }
    return layernorm[d](x, eps=eps), x
}

model M(x: [batch, seq, d]) -> [batch, seq, d] {
    first, second = Two[eps=0.5](x)
    return first + second
}
"""


def test_unpacked_names_scalar_parameters_and_optional_tests_resolve() -> None:
    index = build(SIGNATURES, "/p/s.ncd")
    second = index.at("/p/s.ncd", *at(SIGNATURES, "second", nth=1))
    assert (index.definition(second).line, index.definition(second).col) == at(SIGNATURES, "second")
    eps = index.references(index.at("/p/s.ncd", *at(SIGNATURES, "eps: float")).symbol)
    assert [(o.span.line, o.span.col) for o in eps] == [
        at(SIGNATURES, "eps: float"), at(SIGNATURES, "eps }"), at(SIGNATURES, "eps=eps", offset=4), at(SIGNATURES, "eps=0.5")
    ]  # fmt: skip
    tested = index.at("/p/s.ncd", *at(SIGNATURES, "m {"))
    assert (tested.symbol.name, tested.symbol.kind) == ("m", "value")
    assert features.hover(index, "/p/s.ncd", *at(SIGNATURES, "on and")).startswith("```ncdl\non: bool\n```")


def test_the_language_server_publishes_warnings_as_warnings() -> None:
    from lsprotocol import types as lsp

    from ncdl.lsp.index import build
    from ncdl.lsp.server import to_lsp

    source = "axis batch, model = 8\nmodel M(x: [batch, model]) -> [batch, model] {\n    g = gelu(x)\n    return x\n}\n"
    index = build(source, "m.ncd")
    (published,) = [to_lsp(d) for d in index.diagnostics]
    assert published.code == "W001"
    assert published.severity == lsp.DiagnosticSeverity.Warning
    assert published.message.startswith("value 'g' is computed but never used")

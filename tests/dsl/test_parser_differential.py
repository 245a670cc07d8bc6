"""The fast LALR driver (``ncdl/dsl/lalr.py``) builds the same syntax trees as Lark's own LALR parser.

``lalr.py`` runs Lark's parse table with its own lexer and tree shaping; this
test parses every bundled and test ``.ncd`` file and every ``ncdl`` code block
of the docs with both and compares the resulting :mod:`ncdl.dsl.ast` trees,
spans included. Lark's tree goes through the same tree builder (``_Builder``
in ``parse.py``), bottom-up, so a difference is a difference of parsing: of
lexing, of tree shaping (inlined rules, dropped tokens, placeholders) or of
spans.
"""

from __future__ import annotations

import re
from pathlib import Path

import lark
import pytest

from ncdl.dsl import lalr, parse
from ncdl.dsl.diagnostics import Span

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [*ROOT.glob("ncdl/architectures/*.ncd"), *ROOT.glob("examples/*.ncd"), *ROOT.glob("tests/dsl/programs/*.ncd")]
)
DOCS = [ROOT / "docs" / "language.md", ROOT / "README.md"]
SOURCES = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in FILES}
for doc in DOCS:
    for i, block in enumerate(re.findall(r"```ncdl\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)):
        SOURCES[f"{doc.name}#{i}"] = block


def _lark() -> lark.Lark:
    grammar = parse._GRAMMAR.read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=True, propagate_positions=True)


LARK = _lark()


def _build(tree: lark.Tree | lark.Token | None, file: str):
    """Lark's tree through the parser's tree builder, children first (the files are small: recursion is fine)."""
    if tree is None:
        return None
    if isinstance(tree, lark.Token):
        return lalr.Token(tree.type, str(tree), Span(file, tree.line, tree.column, tree.end_line, tree.end_column))
    children = [_build(c, file) for c in tree.children]
    meta = tree.meta
    span = Span(file, meta.line, meta.column, meta.end_line, meta.end_column)
    return getattr(parse._BUILDER, str(tree.data))(children, span)


def test_every_source_kind_is_covered() -> None:
    assert len(FILES) >= 15 and sum(name.startswith("language.md#") for name in SOURCES) >= 20


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_lalr_driver_matches_lark(name: str) -> None:
    text = SOURCES[name]
    ours = lalr.run(parse._tables(), parse._BUILDER, text, name)
    theirs = _build(LARK.parse(text), name)
    assert ours == theirs


@pytest.mark.parametrize("word", ["model", "axis", "circuit", "use"])
def test_driver_reads_a_name_where_larks_lexer_commits_to_a_dead_keyword(word: str) -> None:
    """The one intended difference: LALR merges the state after an axis in a group with the state after
    ``axis d = heads``, so both lexers see the top-level keywords as possible there. Lark's contextual
    lexer then takes the keyword and fails; the driver reads the keyword only when the parse can go on."""
    text = f"axis a = 1, {word} = 2\nmodel M(x: [a]) -> [a, {word}] {{ return linear[a -> a {word}](x) }}\n"
    with pytest.raises(lark.exceptions.UnexpectedInput):
        LARK.parse(text)
    module = lalr.run(parse._tables(), parse._BUILDER, text, "m.ncd")
    (stmt,) = module.circuits[0].body
    assert [e.name for e in stmt.value.brackets[0].rhs] == ["a", word]
    # and where the keyword can go on, it is the keyword: a declaration after a size expression
    after = lalr.run(parse._tables(), parse._BUILDER, f"axis a = 1, b = a\n{text}", "m.ncd")
    assert [c.name for c in after.circuits] == ["M"]

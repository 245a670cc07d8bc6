"""The language server, driven in-process by a scripted LSP client.

The client opens a two-file program (``main.ncd`` uses ``lib.ncd``), asks for
every feature, edits the file into an error and back, and checks each
response against what the source says.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the language server needs pygls (pip install -e '.[lsp]')")

from lsp_client import Session  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from ncdl.dsl.diagnostics import Diagnostic, Span  # noqa: E402
from ncdl.lsp.features import TOKEN_TYPES  # noqa: E402
from ncdl.lsp.server import DIAGRAM_REQUEST, to_lsp  # noqa: E402

LIB = """\
# lib.ncd: a shared block
axis model = 8, hidden = 4 * model

# A two-layer MLP: model -> hidden -> model.
circuit MLP(x: [model]) -> [model] {
    h = linear[model -> hidden](x)
    return linear[hidden -> model](relu(h))
}
"""

MAIN = """\
use "lib.ncd"
axis batch, seq <= 16

model Net(x: [batch, seq, model]) -> [batch, seq, model] {
    y = layernorm[model](x)
    z = y + MLP(y)
    return softmax[model](z)
}
"""


def pos(text: str, needle: str, nth: int = 0, offset: int = 0) -> lsp.Position:
    """The 0-based position of the ``nth`` occurrence of ``needle`` (plus ``offset`` characters)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    return lsp.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


def doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=uri)


def change(uri: str, version: int, text: str) -> lsp.DidChangeTextDocumentParams:
    """Replace the whole text (a full-document change event)."""
    return lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
    )


@pytest.fixture
def project(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "lib.ncd").write_text(LIB)
    (tmp_path / "main.ncd").write_text(MAIN)
    return from_fs_path(str(tmp_path / "main.ncd")), from_fs_path(str(tmp_path / "lib.ncd"))


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def test_scripted_session_covers_every_feature(project: tuple[str, str]) -> None:
    main_uri, lib_uri = project

    async def script() -> None:
        async with Session() as s:
            caps = s.init.capabilities
            assert caps.hover_provider and caps.definition_provider and caps.references_provider
            assert list(caps.semantic_tokens_provider.legend.token_types) == list(TOKEN_TYPES)
            c = s.client
            c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN)))
            first = await s.wait_diagnostics(main_uri, 1)
            assert list(first.diagnostics) == []

            # hover: a value's axes in order with their sizes
            h = await c.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "y = ")))
            assert "value `y` in `Net`: `[batch, seq, model]`" in h.contents.value
            assert "| `model` | 8 |" in h.contents.value
            assert "| `seq` | free (`seq`), at most 16 |" in h.contents.value
            assert h.range.start == pos(MAIN, "y = ")
            # hover: a learned box's parameters and shapes
            h = await c.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "layernorm", offset=2)))
            assert "box `layernorm` (learned)" in h.contents.value
            assert "| `y.weight` | [model] | (8,) |" in h.contents.value
            assert "`eps`: float" in h.contents.value
            # hover: a circuit's signature and doc comment, from the imported file
            h = await c.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "MLP")))
            assert "circuit MLP(x: [model]) -> [model]" in h.contents.value
            assert "A two-layer MLP: model -> hidden -> model." in h.contents.value
            assert "1 instance: `mlp`" in h.contents.value
            # hover on white space: nothing
            assert await c.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "\n\nmodel"))) is None

            # go to definition across `use`
            d = await c.text_document_definition_async(lsp.DefinitionParams(doc(main_uri), pos(MAIN, "MLP")))
            assert d.uri == lib_uri and d.range.start == pos(LIB, "MLP(")
            d = await c.text_document_definition_async(lsp.DefinitionParams(doc(main_uri), pos(MAIN, "model", 2)))
            assert d.uri == lib_uri and d.range.start == pos(LIB, "model =")
            d = await c.text_document_definition_async(lsp.DefinitionParams(doc(main_uri), pos(MAIN, "(z)", offset=1)))
            assert d.uri == main_uri and d.range.start == pos(MAIN, "z = ")
            d = await c.text_document_definition_async(lsp.DefinitionParams(doc(main_uri), pos(MAIN, "lib.ncd")))
            assert d.uri == lib_uri

            # find references: a value, an axis across files, a circuit
            refs = await c.text_document_references_async(
                lsp.ReferenceParams(
                    text_document=doc(main_uri),
                    position=pos(MAIN, "y = "),
                    context=lsp.ReferenceContext(include_declaration=True),
                )
            )
            assert [r.range.start for r in refs] == [pos(MAIN, "y = "), pos(MAIN, "y + "), pos(MAIN, "(y)", offset=1)]
            refs = await c.text_document_references_async(
                lsp.ReferenceParams(
                    text_document=doc(main_uri),
                    position=pos(MAIN, "model]"),
                    context=lsp.ReferenceContext(include_declaration=True),
                )
            )
            assert {r.uri for r in refs} == {main_uri, lib_uri}
            assert sum(r.uri == lib_uri for r in refs) == sum(
                line.count("model") for line in LIB.splitlines() if not line.startswith("#")
            )
            refs = await c.text_document_references_async(
                lsp.ReferenceParams(
                    text_document=doc(main_uri),
                    position=pos(MAIN, "MLP"),
                    context=lsp.ReferenceContext(include_declaration=False),
                )
            )
            assert [(r.uri, r.range.start) for r in refs] == [(main_uri, pos(MAIN, "MLP"))]

            # completion: axes in brackets, options in a box call, names at a statement, `use` paths
            labels = await _labels(c, main_uri, pos(MAIN, "softmax[", offset=8))
            assert {"batch", "seq", "model", "hidden"} <= labels and "relu" not in labels and "y" not in labels
            labels = await _labels(c, main_uri, pos(MAIN, "](x)", offset=2))
            assert {"eps", "bias", "x"} <= labels
            labels = await _labels(c, main_uri, pos(MAIN, "MLP(y", offset=4))
            assert {"tie", "y", "x"} <= labels and "eps" not in labels
            labels = await _labels(c, main_uri, pos(MAIN, "    return", offset=4))
            assert {"MLP", "linear", "softmax", "y", "z", "return"} <= labels
            labels = await _labels(c, main_uri, pos(MAIN, 'lib.ncd"'))
            assert {"lib.ncd", "gpt.ncd"} <= labels and "main.ncd" not in labels

            # document symbols: axes and the model, with its values
            symbols = await c.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc(main_uri)))
            names = {sym.name: sym for sym in symbols}
            assert list(names) == ["batch", "seq", "Net"]
            assert names["Net"].kind == lsp.SymbolKind.Class
            assert [child.name for child in names["Net"].children] == ["x", "y", "z"]

            # semantic tokens
            tokens = await c.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(doc(main_uri)))
            decoded = _decode(tokens.data)
            assert decoded[(pos(MAIN, "use").line, pos(MAIN, "use").character)] == "keyword"
            assert decoded[(pos(MAIN, '"lib').line, pos(MAIN, '"lib').character)] == "string"
            assert decoded[(pos(MAIN, "MLP").line, pos(MAIN, "MLP").character)] == "function"
            assert decoded[(pos(MAIN, "model]").line, pos(MAIN, "model]").character)] == "type"
            assert decoded[(pos(MAIN, "z = ").line, pos(MAIN, "z = ").character)] == "variable"
            assert decoded[(pos(MAIN, "16").line, pos(MAIN, "16").character)] == "number"

            # the diagram of the model under the cursor
            result = await c.protocol.send_request_async(
                DIAGRAM_REQUEST, {"textDocument": {"uri": main_uri}, "position": {"line": 5, "character": 4}}
            )
            assert result.model == "Net" and "<svg" in result.svg and "layernorm" in result.svg

            # edit into an error: a diagnostic with code, range and severity
            broken = MAIN.replace("softmax[model]", "softmax[modle]")
            c.text_document_did_change(change(main_uri, 2, broken))
            bad = await s.wait_diagnostics(main_uri, 2)
            assert [(d.code, d.severity) for d in bad.diagnostics] == [("E101", lsp.DiagnosticSeverity.Error)]
            assert bad.diagnostics[0].message.startswith("unknown axis 'modle'\nhelp: did you mean 'model'?")
            assert bad.diagnostics[0].range == lsp.Range(pos(broken, "modle"), pos(broken, "modle", offset=5))
            # the broken file still answers hover from its partial IR
            h = await c.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(broken, "y = ")))
            assert "`[batch, seq, model]`" in h.contents.value
            # and back: the diagnostics clear
            c.text_document_did_change(change(main_uri, 3, MAIN))
            assert list((await s.wait_diagnostics(main_uri, 3)).diagnostics) == []

            # a burst of edits: only the last version is checked and published
            c.text_document_did_change(change(main_uri, 4, broken))
            c.text_document_did_change(change(main_uri, 5, MAIN.replace("(z)", "(q)")))
            last = await s.wait_diagnostics(main_uri, 5)
            assert [d.code for d in last.diagnostics] == ["E102"]
            await asyncio.sleep(0.5)
            assert [p.version for p in s.diagnostics[main_uri]] == [1, 2, 3, 5]

            # half-typed text that does not parse: a syntax error, and completion still knows the names
            typing = MAIN.replace("    return softmax[model](z)", "    w = softmax[")
            c.text_document_did_change(change(main_uri, 6, typing))
            partial = await s.wait_diagnostics(main_uri, 6)
            assert [d.severity for d in partial.diagnostics] == [lsp.DiagnosticSeverity.Error]
            labels = await _labels(c, main_uri, pos(typing, "softmax[", offset=8))
            assert {"batch", "seq", "model", "hidden"} <= labels and "y" not in labels

            # a library file with no model: no diagram, said so
            c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(lib_uri, "ncdl", 1, LIB)))
            assert list((await s.wait_diagnostics(lib_uri, 1)).diagnostics) == []
            result = await c.protocol.send_request_async(
                DIAGRAM_REQUEST, {"textDocument": {"uri": lib_uri}, "position": {"line": 5, "character": 4}}
            )
            assert result.error.startswith("no model to draw")

    run(script())


def test_an_error_in_an_imported_file_is_published_on_that_file(project: tuple[str, str]) -> None:
    main_uri, lib_uri = project
    Path(lib_uri.removeprefix("file://")).write_text(LIB.replace("relu(h)", "relu(hh)"))

    async def script() -> None:
        async with Session() as s:
            s.client.text_document_did_open(
                lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN))
            )
            await s.wait_diagnostics(main_uri, 1)
            await asyncio.sleep(0.2)
            on_lib = s.diagnostics[lib_uri][-1].diagnostics
            assert [d.code for d in on_lib] == ["E102"]
            assert on_lib[0].range.start == pos(LIB.replace("relu(h)", "relu(hh)"), "hh)")

    run(script())


def test_saving_an_imported_file_checks_the_files_that_use_it(project: tuple[str, str]) -> None:
    main_uri, lib_uri = project
    broken_lib = LIB.replace("relu(h)", "relu(hh)")

    async def script() -> None:
        async with Session() as s:
            c = s.client
            c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN)))
            c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(lib_uri, "ncdl", 1, LIB)))
            assert list((await s.wait_diagnostics(main_uri, 1)).diagnostics) == []
            await s.wait_diagnostics(lib_uri, 1)
            c.text_document_did_change(change(lib_uri, 2, broken_lib))
            await s.wait_diagnostics(lib_uri, 2)
            Path(lib_uri.removeprefix("file://")).write_text(broken_lib)
            seen = len(s.diagnostics[main_uri])
            c.text_document_did_save(lsp.DidSaveTextDocumentParams(doc(lib_uri)))
            while len(s.diagnostics[main_uri]) == seen:
                await asyncio.sleep(0.05)
            assert s.diagnostics[main_uri][-1].version == 1
            # main's own diagnostics are clean; the imported file's error is published on lib.ncd
            assert list(s.diagnostics[main_uri][-1].diagnostics) == []
            assert [d.code for d in s.diagnostics[lib_uri][-1].diagnostics] == ["E102"]

    run(script())


def test_a_circuit_argument_shows_the_axes_of_its_first_call(project: tuple[str, str]) -> None:
    main_uri, lib_uri = project

    async def script() -> None:
        async with Session() as s:
            c = s.client
            c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN)))
            await s.wait_diagnostics(main_uri, 1)
            # the hover runs on main's index, which also indexes lib.ncd; ask it about lib's `x`
            from ncdl.lsp import features

            index = s.server.indexes[main_uri]
            lib_file = next(f for f in index.sources if f.endswith("lib.ncd"))
            line = LIB.splitlines().index("    h = linear[model -> hidden](x)") + 1
            col = LIB.splitlines()[line - 1].index("(x)") + 2
            text = features.hover(index, lib_file, line, col)
            assert text.startswith("value `x` in `MLP`: `[batch, seq, model]`")

    run(script())


def test_warnings_keep_their_severity() -> None:
    warning = Diagnostic("W201", "value 'h' is never used", Span("a.ncd", 3, 5, 3, 6), "remove it")
    warning.severity = "warning"  # how the checker marks a warning
    converted = to_lsp(warning)
    assert converted.severity == lsp.DiagnosticSeverity.Warning
    assert (converted.code, converted.message) == ("W201", "value 'h' is never used\nhelp: remove it")
    assert converted.range == lsp.Range(lsp.Position(2, 4), lsp.Position(2, 5))
    error = Diagnostic("E101", "unknown axis 'x'", None)
    assert to_lsp(error).severity == lsp.DiagnosticSeverity.Error


async def _labels(client, uri: str, at: lsp.Position) -> set[str]:
    result = await client.text_document_completion_async(lsp.CompletionParams(doc(uri), at))
    return {item.label for item in result.items}


def _decode(data: list[int]) -> dict[tuple[int, int], str]:
    out, line, col = {}, 0, 0
    for i in range(0, len(data), 5):
        dl, dc, _length, kind, _mods = data[i : i + 5]
        line, col = line + dl, (col + dc if dl == 0 else dc)
        out[(line, col)] = TOKEN_TYPES[kind]
    return out


def test_ncdl_lsp_command_serves_on_stdio(project: tuple[str, str]) -> None:
    main_uri, _ = project
    import os
    import sys

    from pygls.lsp.client import LanguageClient

    async def script() -> None:
        client = LanguageClient("ncdl-test", "1")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        await client.start_io(sys.executable, "-m", "ncdl.cli", "lsp", env=env)
        result = await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
        assert result.server_info.name == "ncdl"
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN)))
        h = await client.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "z = ")))
        assert "value `z` in `Net`: `[batch, seq, model]`" in h.contents.value
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    run(script())


def test_ncdl_lsp_says_how_to_install_pygls_when_it_is_missing(monkeypatch, capsys) -> None:
    import sys

    from ncdl.cli import main

    for name in [m for m in sys.modules if m == "ncdl.lsp.server" or m.startswith("pygls")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pygls", None)
    assert main(["lsp"]) == 1
    assert capsys.readouterr().err == "error: `ncdl lsp` needs pygls, which is not installed: pip install 'ncdl[lsp]'\n"


def test_a_bug_in_the_checker_is_shown_as_a_message_and_the_server_goes_on(project, monkeypatch) -> None:
    main_uri, _ = project
    import ncdl.lsp.server as server_module

    def broken(text: str, path: str):
        raise AssertionError("boom")

    monkeypatch.setattr(server_module, "build", broken)

    async def script() -> None:
        async with Session() as s:
            shown = []
            s.client.feature(lsp.WINDOW_SHOW_MESSAGE)(lambda params: shown.append(params))
            s.client.text_document_did_open(
                lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(main_uri, "ncdl", 1, MAIN))
            )
            while not shown:
                await asyncio.sleep(0.05)
            assert shown[0].type == lsp.MessageType.Error
            assert "AssertionError: boom (a bug in ncdl; please report it)" in shown[0].message
            monkeypatch.undo()
            h = await s.client.text_document_hover_async(lsp.HoverParams(doc(main_uri), pos(MAIN, "y = ")))
            assert "`[batch, seq, model]`" in h.contents.value

    run(script())

"""``ncdl lsp``: the language server, on stdio, built on pygls.

Every answer comes from :mod:`ncdl.lsp.index` (the checker's own parse, IR
and diagnostics) through :mod:`ncdl.lsp.features`. Positions convert once,
here: LSP's are 0-based, the front end's spans 1-based.

Diagnostics as you type: each change schedules a check after
:data:`DEBOUNCE_S` of quiet; the check runs in a worker thread, and its
result is published only if the document still has the version that was
checked, so a slow check of old text never overwrites a newer result.

Custom request ``ncdl/diagram``: params ``{"textDocument": {"uri"},
"position": {...}, "depth": int | "all" | null}``; result ``{"model",
"circuit", "svg"}`` — the diagram of the model under the cursor, or, inside a
circuit, of the first model that uses it with that circuit's first instance
opened (``error`` instead of ``svg`` when it cannot be drawn).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ncdl.dsl.diagnostics import Diagnostic, Span
from ncdl.lsp import features
from ncdl.lsp.index import Index, build

#: Seconds of no typing before a changed document is checked.
DEBOUNCE_S = 0.15
DIAGRAM_REQUEST = "ncdl/diagram"

_SYMBOL_KIND = {
    "axis": lsp.SymbolKind.TypeParameter,
    "circuit": lsp.SymbolKind.Function,
    "model": lsp.SymbolKind.Class,
    "value": lsp.SymbolKind.Variable,
    "int": lsp.SymbolKind.Constant,
}
_COMPLETION_KIND = {
    "axis": lsp.CompletionItemKind.TypeParameter,
    "circuit": lsp.CompletionItemKind.Function,
    "model": lsp.CompletionItemKind.Class,
    "box": lsp.CompletionItemKind.Function,
    "value": lsp.CompletionItemKind.Variable,
    "int": lsp.CompletionItemKind.Constant,
    "option": lsp.CompletionItemKind.Property,
    "file": lsp.CompletionItemKind.File,
    "keyword": lsp.CompletionItemKind.Keyword,
}
LEGEND = lsp.SemanticTokensLegend(token_types=list(features.TOKEN_TYPES), token_modifiers=[])


def severity(d: Diagnostic) -> lsp.DiagnosticSeverity:
    """The LSP severity of a front-end diagnostic (errors unless it says otherwise)."""
    level = str(getattr(d, "severity", None) or getattr(d, "level", None) or "")
    if level.startswith("warn") or (not level and d.code.startswith("W")):
        return lsp.DiagnosticSeverity.Warning
    if level.startswith(("info", "note")):
        return lsp.DiagnosticSeverity.Information
    return lsp.DiagnosticSeverity.Error


def to_range(span: Span) -> lsp.Range:
    """A front-end span (1-based, end exclusive) as an LSP range."""
    start = lsp.Position(line=max(0, span.line - 1), character=max(0, span.col - 1))
    end = lsp.Position(line=max(0, span.end_line - 1), character=max(0, span.end_col - 1))
    return lsp.Range(start=start, end=end)


def to_lsp(d: Diagnostic) -> lsp.Diagnostic:
    """A front-end diagnostic as an LSP one: range, severity, code, message (+ hint and notes)."""
    message = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.hint}" if d.hint else "")
    span = d.span or Span("", 1, 1, 1, 1)
    return lsp.Diagnostic(range=to_range(span), message=message, severity=severity(d), code=d.code, source="ncdl")


class NcdlLanguageServer(LanguageServer):
    """The server: one :class:`~ncdl.lsp.index.Index` per open document, rebuilt on change."""

    def __init__(self) -> None:
        super().__init__("ncdl", "0.1.0", text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.indexes: dict[str, Index] = {}
        self.pending: dict[str, asyncio.Task] = {}
        #: target file URI -> source document URI -> what that document's check says about the file
        self.contributions: dict[str, dict[str, list[lsp.Diagnostic]]] = {}
        # one checker thread: checks of several documents queue instead of sharing the parser
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ncdl-check")

    @property
    def open_versions(self) -> dict[str, int | None]:
        """The version of each open document."""
        return {uri: doc.version for uri, doc in self.workspace.text_documents.items()}

    def path_of(self, uri: str) -> str:
        """The file-system path of a document (its URI for unsaved buffers)."""
        return to_fs_path(uri) or uri

    def index(self, uri: str) -> Index:
        """The document's index, built now if it has none yet."""
        if uri not in self.indexes:
            doc = self.workspace.get_text_document(uri)
            self.indexes[uri] = build(doc.source, self.path_of(uri))
        return self.indexes[uri]

    def uri_of(self, index: Index, file: str) -> str:
        """The URI of a file named in a span of ``index``."""
        if file == index.path:
            return from_fs_path(index.path) or index.path
        return from_fs_path(str(index.real_path(file))) or file

    async def check(self, uri: str, version: int | None, delay: float) -> None:
        """Rebuild the index of ``uri`` and publish its diagnostics, unless the
        document moved on past ``version`` meanwhile (then a newer check runs)."""
        if delay:
            await asyncio.sleep(delay)
        doc = self.workspace.get_text_document(uri)
        if doc.version != version:
            return
        text = doc.source
        loop = asyncio.get_running_loop()
        try:
            index = await loop.run_in_executor(self.checker, build, text, self.path_of(uri))
        except Exception as err:  # noqa: BLE001 - a bug in ncdl: say so, keep serving
            traceback.print_exc(file=sys.stderr)  # the editor's server log
            message = f"ncdl could not check {self.path_of(uri)}: {type(err).__name__}: {err} (a bug in ncdl; please report it)"
            self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Error, message=message))
            return
        if self.workspace.get_text_document(uri).version != version:
            return  # stale: the text changed while checking
        previous = self.indexes.get(uri)
        if not index.modules and previous is not None and previous.modules:
            # text that does not parse (often half-typed): keep answering hover,
            # definition and completion from the last text that did
            index = dataclasses.replace(previous, diagnostics=index.diagnostics)
        self.indexes[uri] = index
        self.publish(uri, index, version)

    def publish(self, uri: str, index: Index, version: int | None) -> None:
        """Send the diagnostics of ``index`` to each file they are about.

        A file can get diagnostics from several open documents (its own check,
        and the check of each file that imports it, which may find more: what
        depends on a circuit's binding is found only where a model calls it);
        each file is sent the union of what every open document says about it
        now, one diagnostic per location, code and message.
        """
        by_uri: dict[str, list[lsp.Diagnostic]] = {uri: []}
        for d in index.diagnostics:
            target = uri if d.span is None else self.uri_of(index, d.span.file)
            by_uri.setdefault(target, []).append(to_lsp(d))
        self.contribute(uri, by_uri, version)

    def contribute(self, source: str, by_uri: dict[str, list[lsp.Diagnostic]], version: int | None) -> None:
        """Record what ``source`` says about each file; publish the files whose union changed."""
        targets = set(by_uri) | {t for t, sources in self.contributions.items() if source in sources}
        for target in targets:
            sources = self.contributions.setdefault(target, {})
            if by_uri.get(target):
                sources[source] = by_uri[target]
            else:
                sources.pop(source, None)
            merged: dict[tuple, lsp.Diagnostic] = {}
            for diags in ([sources[target]] if target in sources else []) + [
                v for k, v in sources.items() if k != target
            ]:
                for d in diags:
                    key = (
                        d.range.start.line,
                        d.range.start.character,
                        d.range.end.line,
                        d.range.end.character,
                        d.code,
                        d.message.split("\n", 1)[0],  # one mistake, whether or not a note names a call site
                    )
                    merged.setdefault(key, d)
            doc_version = version if target == source else self.open_versions.get(target)
            params = lsp.PublishDiagnosticsParams(uri=target, diagnostics=list(merged.values()), version=doc_version)
            self.text_document_publish_diagnostics(params)

    def schedule(self, uri: str, version: int | None, delay: float) -> None:
        """Start a (debounced) check, cancelling the one waiting for this document."""
        old = self.pending.pop(uri, None)
        if old is not None and not old.done():
            old.cancel()
        self.pending[uri] = asyncio.ensure_future(self.check(uri, version, delay))


def _pos(params: Any) -> tuple[str, int, int]:
    return params.text_document.uri, params.position.line + 1, params.position.character + 1


def create_server() -> NcdlLanguageServer:
    """A fresh server with every feature registered (one per client; tests make their own)."""
    server = NcdlLanguageServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NcdlLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        """Check a document as soon as it opens."""
        ls.schedule(params.text_document.uri, params.text_document.version, 0.0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NcdlLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        """Check again once typing pauses."""
        ls.schedule(params.text_document.uri, params.text_document.version, DEBOUNCE_S)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NcdlLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        """Check every open document again: the saved file may be imported by the others."""
        for uri in {params.text_document.uri, *ls.indexes}:
            ls.schedule(uri, ls.workspace.get_text_document(uri).version, 0.0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NcdlLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        """Forget a closed document and clear its diagnostics."""
        uri = params.text_document.uri
        ls.indexes.pop(uri, None)
        ls.contribute(uri, {}, None)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: NcdlLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        """Axes of a value, parameters of a box, signature and doc of a circuit."""
        uri, line, col = _pos(params)
        index = ls.index(uri)
        text = features.hover(index, index.path, line, col)
        if text is None:
            return None
        occ = index.at(index.path, line, col)
        return lsp.Hover(
            contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
            range=to_range(occ.span) if occ else None,
        )

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: NcdlLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        """Where a circuit, axis, value or imported file is defined (across `use`)."""
        uri, line, col = _pos(params)
        index = ls.index(uri)
        occ = index.at(index.path, line, col)
        if occ is None:
            return None
        if occ.symbol.kind == "file":
            start = lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
            return lsp.Location(uri=from_fs_path(occ.symbol.name) or occ.symbol.name, range=start)
        span = index.definition(occ)
        if span is None:
            return None
        return lsp.Location(uri=ls.uri_of(index, span.file), range=to_range(span))

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: NcdlLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        """Every use of the name under the cursor, in this file and the files it imports."""
        uri, line, col = _pos(params)
        index = ls.index(uri)
        occ = index.at(index.path, line, col)
        if occ is None or occ.symbol.kind in ("box", "option", "file"):
            return []
        found = index.references(occ.symbol)
        if not params.context.include_declaration:
            found = [o for o in found if o.span != occ.symbol.span]
        return [lsp.Location(uri=ls.uri_of(index, o.span.file), range=to_range(o.span)) for o in found]

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["[", "(", ",", " ", '"']))
    def completion(ls: NcdlLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        """Axes in brackets, box options in calls, boxes, circuits, values, `use` paths."""
        uri, line, col = _pos(params)
        index = ls.index(uri)
        text = ls.workspace.get_text_document(uri).source
        items = [
            lsp.CompletionItem(
                label=c.label, kind=_COMPLETION_KIND.get(c.kind), detail=c.detail or None, insert_text=c.insert
            )
            for c in features.complete(index, text, index.path, line, col)
        ]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: NcdlLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        """The outline: axes, circuits and models (with their parameters and values)."""
        index = ls.index(params.text_document.uri)

        def symbol(sym, children=()) -> lsp.DocumentSymbol:
            rng = to_range(sym.span)
            decl = index.circuits.get(sym.name) if sym.kind in ("circuit", "model") else None
            full = to_range(decl.span) if decl is not None and decl.span.file == index.path else rng
            return lsp.DocumentSymbol(
                name=sym.name,
                kind=_SYMBOL_KIND.get(sym.kind, lsp.SymbolKind.Variable),
                range=full,
                selection_range=rng,
                detail=sym.kind,
                children=[symbol(c) for c in children] or None,
            )

        return [symbol(sym, children) for sym, children in features.outline(index, index.path)]

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    def semantic_tokens(ls: NcdlLanguageServer, params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
        """Names coloured by what they are (axis, circuit, value, ...), keywords, literals, comments."""
        uri = params.text_document.uri
        index = ls.index(uri)
        text = ls.workspace.get_text_document(uri).source
        data: list[int] = []
        prev_line, prev_col = 1, 1
        for line, col, length, kind in features.semantic_tokens(index, text, index.path):
            delta_line = line - prev_line
            delta_col = col - prev_col if delta_line == 0 else col - 1
            data += [delta_line, delta_col, length, features.TOKEN_TYPES.index(kind), 0]
            prev_line, prev_col = line, col
        return lsp.SemanticTokens(data=data)

    @server.feature(DIAGRAM_REQUEST)
    def diagram(ls: NcdlLanguageServer, params: Any) -> dict[str, Any]:
        """The SVG of the model (or circuit) under the cursor; see the module docstring."""
        from ncdl.serve.diagram import DiagramError, diagram_svg

        doc = _get(params, "textDocument") or {}
        uri = _get(doc, "uri")
        pos = _get(params, "position") or {}
        index = ls.index(uri)
        decl = index.circuit_at(index.path, int(_get(pos, "line") or 0) + 1)
        depth_opt = _get(params, "depth")
        depth: int | str | None = "auto" if depth_opt is None else (None if depth_opt == "all" else int(depth_opt))
        if not index.graphs:
            return {"model": None, "circuit": None, "error": "no model to draw: declare a `model`, or fix the errors"}
        model, expand, circuit = list(index.graphs)[-1], (), None
        if decl is not None and decl.is_model and decl.name in index.graphs:
            model = decl.name
        elif decl is not None and not decl.is_model:
            circuit = decl.name
            for name, g in index.graphs.items():
                paths = sorted(p for p, c in g.graph.get("circuits", {}).items() if c == decl.name)
                if paths:
                    model, expand = name, (paths[0],)
                    break
        try:
            svg = diagram_svg(index.graphs[model], depth, expand)
        except DiagramError as err:
            return {"model": model, "circuit": circuit, "error": str(err)}
        return {"model": model, "circuit": circuit, "svg": svg}

    return server


def _get(obj: Any, key: str) -> Any:
    """A field of a params object (pygls gives custom requests' params as objects)."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def main() -> int:
    """Serve on stdin/stdout until the client says exit."""
    create_server().start_io()
    return 0

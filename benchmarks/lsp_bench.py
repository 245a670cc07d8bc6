"""Language-server latency on the bundled GPT (``ncdl/architectures/gpt.ncd``).

Run: ``.venv/bin/python benchmarks/lsp_bench.py`` (add ``--write`` to put the
table into ``BENCHMARKS.md``, replacing the section of an earlier run).

Each figure is the median wall-clock time from sending a request over the
LSP protocol (the server in a thread of this process, talking JSON-RPC over
two OS pipes, as on stdio) to receiving its answer, after warm-up:

* hover on a value, on a learned box and on a circuit;
* go to definition of a circuit defined in an imported file;
* completion inside brackets and at the start of a statement;
* diagnostics after an edit: from sending ``didChange`` to receiving the
  ``publishDiagnostics`` of that version, alternating an edit into an error
  and back. This includes the server's debounce (``DEBOUNCE_S``), which a
  user typing sees too; the check itself is the figure minus the debounce.

The preview page (``ncdl serve``) is timed the same way: from saving the
file to receiving the Server-Sent Event, and to having the page's new state
(``/api/state``: check, diagram SVG and stats), which is what the page then
draws.

Targets (issue 18): 100 ms for hover, definition and completion, 500 ms for
diagnostics after an edit, and the preview updated within a second of a
save. Not a test: timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "editor"))  # the in-process client the tests use

from lsp_client import Session  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from ncdl.lsp.server import DEBOUNCE_S  # noqa: E402

GPT = ROOT / "ncdl" / "architectures" / "gpt.ncd"
SECTION = "## 6. Editor: language server latency"


def position(text: str, needle: str, nth: int = 0) -> lsp.Position:
    """The 0-based position of the ``nth`` occurrence of ``needle``."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    return lsp.Position(line=text.count("\n", 0, at), character=at - (text.rfind("\n", 0, at) + 1))


async def timed(make, repeats: int) -> float:
    """Median milliseconds of ``await make()`` over ``repeats`` calls (after 3 warm-ups
    that check the answer is not empty, so that no figure times a no-op)."""
    for _ in range(3):
        result = await make()
        assert result and (not hasattr(result, "items") or result.items), "empty answer"
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def bench(repeats: int) -> list[tuple[str, float, int]]:
    """Rows of (what, median ms, target ms)."""
    text = GPT.read_text()
    uri = from_fs_path(str(GPT))
    doc = lsp.TextDocumentIdentifier(uri=uri)
    rows: list[tuple[str, float, int]] = []
    async with Session() as s:
        c = s.client
        start = time.perf_counter()
        c.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "ncdl", 1, text)))
        await s.wait_diagnostics(uri, 1)
        rows.append(("diagnostics after opening the file (first check)", (time.perf_counter() - start) * 1000, 500))

        model_x = position(text, "x = tok_emb", 1)
        embed = position(text, "embed[", 1)
        block = position(text, "DecoderBlock(x)")
        for what, pos in (("hover: a value (`x`)", model_x), ("hover: a learned box (`embed`)", embed)):
            rows.append(
                (what, await timed(lambda p=pos: c.text_document_hover_async(lsp.HoverParams(doc, p)), repeats), 100)
            )
        rows.append(
            (
                "hover: a circuit (`DecoderBlock`)",
                await timed(lambda: c.text_document_hover_async(lsp.HoverParams(doc, block)), repeats),
                100,
            )
        )
        rows.append(
            (
                "definition: a circuit in an imported file",
                await timed(lambda: c.text_document_definition_async(lsp.DefinitionParams(doc, block)), repeats),
                100,
            )
        )
        inside = position(text, "layernorm[model]", 1)
        inside = lsp.Position(line=inside.line, character=inside.character + len("layernorm["))
        statement = position(text, "    return x ->", 1)
        statement = lsp.Position(line=statement.line, character=4)
        for what, pos in (("completion: axes inside brackets", inside), ("completion: a statement", statement)):
            rows.append(
                (
                    what,
                    await timed(lambda p=pos: c.text_document_completion_async(lsp.CompletionParams(doc, p)), repeats),
                    100,
                )
            )

        broken = text.replace("layernorm[model] as transformer.ln_f", "layernorm[modle] as transformer.ln_f")
        version = 1
        samples = []
        for i in range(repeats + 2):
            version += 1
            body = broken if i % 2 == 0 else text
            start = time.perf_counter()
            c.text_document_did_change(
                lsp.DidChangeTextDocumentParams(
                    text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=body)],
                )
            )
            published = await s.wait_diagnostics(uri, version)
            if i >= 2:
                samples.append((time.perf_counter() - start) * 1000)
            assert bool(published.diagnostics) == (body is broken)
        median = statistics.median(samples)
        rows.append((f"diagnostics after an edit (incl. {DEBOUNCE_S * 1000:.0f} ms debounce)", median, 500))
        rows.append(("  of which the check itself", median - DEBOUNCE_S * 1000, 500))
    return rows


def bench_preview(repeats: int) -> list[tuple[str, float, int]]:
    """Save -> event and save -> new page state for a copy of the GPT in a temporary folder."""
    import tempfile
    import threading
    import urllib.request

    from ncdl.serve.app import make_server
    from ncdl.serve.state import Preview

    text = GPT.read_text()
    broken = text.replace("layernorm[model] as transformer.ln_f", "layernorm[modle] as transformer.ln_f")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "gpt.ncd"
        source.write_text(text)
        preview = Preview(source)
        httpd = make_server(preview)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        preview.start()
        url = f"http://127.0.0.1:{httpd.server_port}/"
        events, states = [], []
        try:
            with urllib.request.urlopen(url + "events", timeout=60) as stream:
                stream.readline()
                for i in range(repeats + 1):
                    temporary = source.with_name("gpt.ncd.tmp")
                    temporary.write_text(broken if i % 2 == 0 else text)
                    start = time.perf_counter()
                    os.replace(temporary, source)
                    line = b""
                    while not line.startswith(b"data:"):
                        line = stream.readline()
                    got_event = time.perf_counter()
                    with urllib.request.urlopen(url + "api/state", timeout=60) as reply:
                        reply.read()
                    if i:
                        events.append((got_event - start) * 1000)
                        states.append((time.perf_counter() - start) * 1000)
        finally:
            preview.stop()
            httpd.shutdown()
            httpd.server_close()
    return [
        ("preview: save -> event on the page", statistics.median(events), 1000),
        ("preview: save -> new page state (check, SVG, stats)", statistics.median(states), 1000),
    ]


def report(rows: list[tuple[str, float, int]], repeats: int) -> str:
    """The BENCHMARKS.md section."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        SECTION,
        "",
        f"`benchmarks/lsp_bench.py`: the language server on the bundled GPT (`ncdl/architectures/gpt.ncd`, which "
        "imports `transformer.ncd` and `attention.ncd`), driven over LSP by an in-process client (JSON-RPC over OS "
        f"pipes). Median of {repeats} requests after 3 warm-ups; load average {load}. Targets: 100 ms for hover, "
        "definition and completion; 500 ms for diagnostics after an edit; the preview page (`ncdl serve`, polling the "
        "file every 0.2 s) updated within 1000 ms of a save.",
        "",
        "| request | median (ms) | target (ms) | |",
        "|---|---|---|---|",
    ]
    for what, ms, target in rows:
        lines.append(f"| {what} | {ms:.1f} | {target} | {'ok' if ms <= target else 'MISS'} |")
    return "\n".join(lines) + "\n"


def write(section: str, path: Path) -> None:
    """Put ``section`` into ``path``, replacing an earlier run's."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    """Run, print the table, optionally write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="put the section into BENCHMARKS.md")
    args = parser.parse_args()
    rows = asyncio.run(bench(args.repeats)) + bench_preview(max(4, args.repeats // 3))
    section = report(rows, args.repeats)
    print(section)
    if args.write:
        write(section, ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()

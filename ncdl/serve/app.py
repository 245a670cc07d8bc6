"""``ncdl serve FILE``: a live preview page on 127.0.0.1.

The page (``static/``) shows the chosen model's diagram, the diagnostics and
the stats table, with a model picker, a depth control and click-to-expand on
circuits. When the file (or a file it imports) is saved, the watcher
(:mod:`ncdl.serve.state`) checks it again and the page hears of it through
Server-Sent Events (``/events``), then fetches ``/api/state``.

Routes, and nothing else:

* ``/``, ``/app.js``, ``/style.css``: the page, from the package's ``static/``
  folder (fixed names; no request path ever reaches the file system);
* ``/api/state?model=M&depth=D&expand=P&expand=Q``: JSON with ``version``,
  ``models``, ``model``, ``diagnostics``, ``stats`` and ``svg`` (or ``error``);
* ``/events``: a ``text/event-stream`` of version numbers.

Safety: the server binds to loopback only; it answers only requests whose
``Host`` is ``127.0.0.1:PORT`` or ``localhost:PORT`` (a web page elsewhere
cannot reach it by DNS rebinding); it reads only the watched program, whose
``use`` imports the front end already keeps inside the project folder and the
bundled library; the page carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
import sys
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ncdl.dsl.diagnostics import Diagnostic
from ncdl.serve.diagram import DiagramError, diagram_svg
from ncdl.serve.state import Preview, Snapshot

HOST = "127.0.0.1"
#: The page's files: route -> (file in static/, content type).
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Seconds between keep-alive comments on the event stream.
KEEPALIVE_S = 10.0


class ServeError(Exception):
    """The preview cannot start (no such file, no such model); one line."""


def serve(file: str, port: int = 0, model: str | None = None, open_browser: bool = False) -> int:
    """Check ``file``, serve its preview page until interrupted; 0 on a clean stop."""
    path = Path(file)
    if not path.is_file():
        raise ServeError(f"{file}: no such file")
    preview = Preview(path)
    if model is not None and model not in preview.snapshot.models:
        raise ServeError(f"{file}: no model '{model}'; models: {', '.join(preview.snapshot.models) or 'none'}")
    httpd = make_server(preview, port, model)
    url = f"http://{HOST}:{httpd.server_port}/"
    print(f"ncdl serve: {file} at {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    preview.start()
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        preview.stop()
        httpd.server_close()
    return 0


class PreviewServer(ThreadingHTTPServer):
    """The HTTP server of one preview; handler threads are daemons."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, preview: Preview, port: int, model: str | None) -> None:
        super().__init__((HOST, port), Handler)
        self.preview = preview
        self.default_model = model
        self.cache: dict[tuple, dict[str, Any]] = {}
        self.cache_lock = threading.Lock()


def make_server(preview: Preview, port: int = 0, model: str | None = None) -> PreviewServer:
    """A server for ``preview`` bound to 127.0.0.1 (``port`` 0: a free one); not yet serving."""
    return PreviewServer(preview, port, model)


class Handler(BaseHTTPRequestHandler):
    """The routes listed in the module docstring."""

    server: PreviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the terminal shows only the URL and errors."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Serve one of the fixed routes."""
        if not self._host_ok():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: use the address ncdl serve printed\n", "text/plain")
            return
        url = urlsplit(self.path)
        if url.path in STATIC:
            name, ctype = STATIC[url.path]
            body = resources.files("ncdl.serve").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, body, ctype)
        elif url.path == "/api/state":
            query = parse_qs(url.query)
            body = json.dumps(self.server_state(query)).encode("utf-8")
            self._send(HTTPStatus.OK, body, "application/json")
        elif url.path == "/events":
            self._events()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _host_ok(self) -> bool:
        port = self.server.server_port
        return self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}")

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        preview = self.server.preview
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        version = 0
        try:
            while not preview.stopped:
                current = preview.wait(version, KEEPALIVE_S)
                if current > version:
                    version = current
                    self.wfile.write(f"data: {version}\n\n".encode())
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def server_state(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """The ``/api/state`` answer for a query (cached per version and view)."""
        snap = self.server.preview.snapshot
        models = snap.models
        model = (query.get("model") or [self.server.default_model or ""])[0]
        if model not in models:
            model = models[-1] if models else ""
        depth = (query.get("depth") or ["auto"])[0]
        expand = tuple(query.get("expand") or ())
        key = (snap.version, model, depth, expand)
        with self.server.cache_lock:
            if key in self.server.cache:
                return self.server.cache[key]
        state = view(snap, self.server.preview.path, model, depth, expand)
        with self.server.cache_lock:
            self.server.cache = {k: v for k, v in self.server.cache.items() if k[0] == snap.version}
            self.server.cache[key] = state
        return state


def view(snap: Snapshot, path: Path, model: str, depth: str, expand: tuple[str, ...]) -> dict[str, Any]:
    """Everything the page shows for one model at one depth."""
    state: dict[str, Any] = {
        "version": snap.version,
        "file": path.name,
        "models": snap.models,
        "model": model,
        "depth": depth,
        "expand": list(expand),
        "diagnostics": [_diagnostic(d, path) for d in snap.diagnostics],
        "stats": None,
        "svg": None,
        "error": None,
    }
    if not model:
        state["error"] = "no model to draw: declare a `model`" if not snap.diagnostics else "no model could be checked"
        return state
    g = snap.graphs[model]
    chosen: int | str | None = "auto" if depth == "auto" else None if depth == "all" else _int(depth)
    if chosen == -1:
        state["error"] = f"depth must be a whole number, 'auto' or 'all', not {depth!r}"
        return state
    known = set(g.graph.get("circuits", {})) | set(g.graph.get("repeats", {}))
    try:
        state["svg"] = diagram_svg(g, chosen, [p for p in expand if p in known])
    except DiagramError as err:
        state["error"] = str(err)
    if "error" not in g.graph:
        state["stats"] = _stats(g)
    return state


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _diagnostic(d: Diagnostic, root: Path) -> dict[str, Any]:
    level = str(getattr(d, "severity", None) or getattr(d, "level", None) or "")
    severity = "warning" if level.startswith("warn") or (not level and d.code.startswith("W")) else "error"
    span = d.span
    return {
        "severity": severity,
        "code": d.code,
        "message": d.message,
        "where": f"{Path(span.file).name}:{span.line}:{span.col}" if span else "",
        "text": d.format(),
    }


def _stats(g: Any) -> dict[str, Any] | None:
    from ncdl.compiler.stats import stats

    try:
        result = stats(g, {})
    except (ValueError, KeyError):
        return None
    return {
        "params": result["params"],
        "flops": str(result["flops"]),
        "activation_bytes": str(result["activation_bytes"]),
        "free_axes": result["free_axes"],
        "circuits": [
            {
                "path": r["path"],
                "circuit": r["circuit"] if r["kind"] == "circuit" else r["kind"],
                "params": r["params"],
                "flops": str(r["flops"]),
                "activation_bytes": str(r["activation_bytes"]),
            }
            for r in result["circuits"]
        ],
    }

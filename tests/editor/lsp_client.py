"""An in-process language client for tests: the server runs in a thread,
talking to a pygls ``LanguageClient`` over two OS pipes, as it would on stdio."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from lsprotocol import types as lsp
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.client import LanguageClient

from ncdl.lsp.server import create_server


class Session:
    """One server and one client; ``diagnostics[uri]`` keeps every publication in order."""

    def __init__(self) -> None:
        self.server = create_server()
        self.client = LanguageClient("ncdl-test", "1")
        self.diagnostics: dict[str, list[lsp.PublishDiagnosticsParams]] = {}
        self._published = asyncio.Event()

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            self.diagnostics.setdefault(params.uri, []).append(params)
            self._published.set()

    async def __aenter__(self) -> Session:
        c2s_r, c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()
        self._files = [os.fdopen(c2s_r, "rb", 0), os.fdopen(s2c_w, "wb", 0)]
        self.thread = threading.Thread(target=self.server.start_io, args=tuple(self._files), daemon=True)
        self.thread.start()
        self._client_files = [os.fdopen(c2s_w, "wb", 0), os.fdopen(s2c_r, "rb", 0)]
        self.client.protocol.set_writer(StdoutWriter(self._client_files[0]))
        self._task = asyncio.ensure_future(
            run_async(
                stop_event=self.client._stop_event,
                reader=StdinAsyncReader(self._client_files[1]),
                protocol=self.client.protocol,
                logger=logging.getLogger("ncdl-test-client"),
                error_handler=lambda err, source: None,
            )
        )
        caps = lsp.ClientCapabilities(
            text_document=lsp.TextDocumentClientCapabilities(
                publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(version_support=True)
            )
        )
        self.init = await self.client.initialize_async(lsp.InitializeParams(capabilities=caps, process_id=None))
        self.client.initialized(lsp.InitializedParams())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.wait_for(self.client.shutdown_async(None), 10)
        self.client.exit(None)
        self.thread.join(10)
        self.client._stop_event.set()
        self._client_files[0].close()
        self._task.cancel()
        for f in self._client_files[1:] + self._files:
            try:
                f.close()
            except OSError:
                pass

    async def wait_diagnostics(self, uri: str, version: int, timeout: float = 20.0) -> lsp.PublishDiagnosticsParams:
        """The first publication for ``uri`` at ``version`` (waits for it)."""

        async def wait() -> lsp.PublishDiagnosticsParams:
            while True:
                for p in self.diagnostics.get(uri, []):
                    if p.version == version:
                        return p
                self._published.clear()
                await self._published.wait()

        return await asyncio.wait_for(wait(), timeout)

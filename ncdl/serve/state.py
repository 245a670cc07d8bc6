"""What the preview page shows, recomputed whenever the file changes on disk.

A :class:`Preview` holds the latest :class:`Snapshot` of one ``.ncd`` file
(its models, diagnostics and IR graphs, from the same front end as ``ncdl
check``) and a version number that goes up with each new snapshot. A
watcher thread polls the modification time and size of the file and of the
files it imports (``use``) every :data:`POLL_S` seconds; polling needs no
extra package and notices a save within a fraction of a second.
Subscribers (the page's event stream) wait on :meth:`Preview.wait`.
"""

from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from ncdl.dsl.diagnostics import Diagnostic, NcdlError

#: Seconds between two looks at the watched files.
POLL_S = 0.2


@dataclass
class Snapshot:
    """One check of the file: models, diagnostics, graphs (partial after errors)."""

    version: int
    models: list[str]
    diagnostics: list[Diagnostic]
    graphs: dict[str, nx.MultiDiGraph]
    watched: list[Path] = field(default_factory=list)


def analyse(path: Path, version: int) -> Snapshot:
    """Check ``path`` as ``ncdl check`` does; never raises for a mistake in it."""
    from ncdl.dsl.imports import LIBRARY, load_modules
    from ncdl.dsl.source import read_source
    from ncdl.program import load

    diagnostics: list[Diagnostic] = []
    graphs: dict[str, nx.MultiDiGraph] = {}
    try:
        program = load(path)
        graphs = {name: program.graph(name) for name in program.models}
        diagnostics += list(getattr(program, "diagnostics", None) or getattr(program, "warnings", None) or [])
    except NcdlError as err:
        diagnostics += err.diagnostics
        graphs = dict(getattr(err, "graphs", {}) or {})
    except RecursionError:
        diagnostics.append(Diagnostic("E153", "the program nests too deeply to check", None))
    watched = [path.resolve()]
    try:
        _, sources = load_modules(read_source(str(path)), str(path))
        for name in sources:
            real = Path(name).resolve() if not name.startswith("<") else None
            if real is not None and real not in watched and not real.is_relative_to(LIBRARY):
                watched.append(real)
    except (NcdlError, RecursionError):
        pass
    return Snapshot(version, list(graphs), diagnostics, graphs, watched)


class Preview:
    """The latest snapshot of one file and the thread that keeps it fresh."""

    def __init__(self, path: Path) -> None:
        self.path = path  # as the user gave it: diagnostics name the file so
        self.changed = threading.Condition()
        self.snapshot = analyse(path, 1)
        self._stamps = self._stat()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ncdl-serve-watch", daemon=True)

    def start(self) -> None:
        """Start watching the files."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wake every waiting subscriber."""
        self._stop.set()
        with self.changed:
            self.changed.notify_all()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def wait(self, version: int, timeout: float) -> int:
        """Block until the version is past ``version`` (or ``timeout``); return the current one."""
        with self.changed:
            self.changed.wait_for(lambda: self.snapshot.version > version or self.stopped, timeout)
            return self.snapshot.version

    def refresh(self) -> None:
        """Check the file again now and publish a new version."""
        snap = analyse(self.path, self.snapshot.version + 1)
        with self.changed:
            self.snapshot = snap
            self.changed.notify_all()

    def _stat(self) -> dict[Path, tuple[int, int] | None]:
        return {p: _stamp(p) for p in self.snapshot.watched}

    def _watch(self) -> None:
        failed = ""
        while not self._stop.wait(POLL_S):
            stamps = self._stat()
            if stamps != self._stamps:
                # stamps taken before the check: a save during it is seen next time
                try:
                    self.refresh()
                except Exception as err:  # noqa: BLE001 - a bug in ncdl must not stop the watching; try again
                    if repr(err) != failed:  # once per distinct failure, not every poll
                        traceback.print_exc(file=sys.stderr)
                        failed = repr(err)
                    continue
                failed = ""
                self._stamps = {p: stamps[p] if p in stamps else _stamp(p) for p in self.snapshot.watched}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)

"""Render time of a 48-layer GPT diagram: DOT generation and `dot -Tsvg`, folded and expanded.

Not a test. Run: ``.venv/bin/python benchmarks/render_bench.py [layers]``.
The IR is built programmatically (tests/compiler/diagram_graphs.py), so the
benchmark needs no front end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "compiler"))

import diagram_graphs  # noqa: E402

from ncdl.compiler.diagram import render  # noqa: E402


def _time(label: str, fn, repeats: int = 1) -> object:  # type: ignore[no-untyped-def]
    best = float("inf")
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<38} {best * 1000:9.1f} ms")
    return result


def main() -> None:
    """Print DOT generation and layout times for the folded and expanded diagrams."""
    layers = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    g = diagram_graphs.gpt(layers, dropout=True)
    print(f"GPT with {layers} layers: {g.number_of_nodes()} IR nodes, {g.number_of_edges()} wires")
    for name, options in (("folded", {}), ("expanded", {"expand": ("blocks",)})):
        dot = _time(f"{name}: render() -> DOT", lambda options=options: render(g, **options), repeats=3)
        print(f"{'':<38} {len(dot.source):9d} bytes of DOT")  # type: ignore[attr-defined]
        _time(f"{name}: dot -Tsvg", lambda dot=dot: dot.pipe(format="svg"))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

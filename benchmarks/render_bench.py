"""Render time of a 48-layer GPT diagram: the default (page-fitting) view and the expanded one.

Not a test. Run: ``.venv/bin/python benchmarks/render_bench.py [layers]``.
The IR is built programmatically (tests/compiler/diagram_graphs.py), so the
benchmark needs no front end.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "compiler"))

import diagram_graphs  # noqa: E402

from ncdl.compiler.diagram import PageWarning, render  # noqa: E402
from ncdl.compiler.diagram.page import measure  # noqa: E402


def _time(label: str, fn, repeats: int = 1) -> object:  # type: ignore[no-untyped-def]
    """Run ``fn`` ``repeats`` times; print the median wall time and the median CPU time
    (this process and the Graphviz processes it ran: steadier on a busy machine)."""
    times, cpus = [], []
    result = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), _cpu()
        result = fn()
        times.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    wall, used = statistics.median(times) * 1000, statistics.median(cpus) * 1000
    print(f"{label:<44} {wall:9.1f} ms wall, {used:9.1f} ms CPU (medians of {repeats})")
    return result


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    """Print render and layout times for the default view and the expanded diagram, and the page size."""
    layers = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    g = diagram_graphs.gpt(layers, dropout=True)
    print(f"GPT with {layers} layers: {g.number_of_nodes()} IR nodes, {g.number_of_edges()} wires")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PageWarning)  # the expanded view is knowingly larger than a page
        for name, options in (("default view", {}), ("expanded", {"expand": ("blocks",), "panels": False})):
            dot = _time(f"{name}: render() (layout included)", lambda o=options: render(g, **o), repeats=5)
            print(f"{'':<44} {measure(dot).describe()}")  # type: ignore[arg-type]
            _time(f"{name}: write SVG (neato -n2)", lambda d=dot: d.pipe(format="svg"), repeats=3)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

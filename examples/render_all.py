"""Render the diagram of every model in every bundled architecture file (SVG).

One file per model, named ``<file>_<Model>.svg`` (``gpt_GPT.svg``,
``resnet_ResNet18.svg``, ...), in a folder (default ``docs/diagrams/``).
Library files without models (``attention``, ``transformer``, ``convnets``)
are skipped with a note. Without the Graphviz ``dot`` program each diagram is
written as DOT text (``.dot``) instead.

Run::

    .venv/bin/python examples/render_all.py
    .venv/bin/python examples/render_all.py --out /tmp/diagrams --depth 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ncdl import architectures
from ncdl.compiler.diagram import auto_depth, write_diagram


def render_all(out: str | Path = "docs/diagrams", depth: int | None = None) -> list[Path]:
    """Write one diagram per bundled model into ``out``; return the paths written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in architectures.list_architectures():
        program = architectures.load(name)
        if not program.models:
            print(f"{name}: a library of circuits, no model to draw")
            continue
        for model in program.models:
            start = time.perf_counter()
            path = folder / f"{name}_{model}.svg"
            chosen = depth if depth is not None else auto_depth(program.graph(model))
            message = write_diagram(program.render(model, depth=chosen), str(path))
            if message:  # no Graphviz: DOT text next to it
                print(message, file=sys.stderr)
                path = path.with_suffix(".dot")
            written.append(path)
            print(f"{path}  ({time.perf_counter() - start:.2f} s)")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out`` and ``--depth``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/diagrams", help="output folder (default docs/diagrams)")
    parser.add_argument("--depth", type=int, help="draw circuits deeper than this as single boxes")
    args = parser.parse_args(argv)
    written = render_all(args.out, args.depth)
    print(f"{len(written)} diagrams in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

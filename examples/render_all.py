"""Render the diagram of every model in every bundled architecture file (SVG).

One file per model, named ``<file>_<Model>.svg`` (``gpt_GPT.svg``,
``resnet_ResNet18.svg``, ...), in a folder (default ``docs/diagrams/``), each
at the default view (the most open one that fits a page). In library files
without models (``attention``, ``transformer``, ``convnets``) each circuit
that can be drawn with its axes symbolic (``ncdl render FILE --circuit
NAME``) is drawn as ``<file>_<Circuit>.svg``; the others (they need sizes
for their weights) are skipped with a note. Without the Graphviz ``dot`` program each diagram is written as DOT
text (``.dot``) instead. ``--paper`` also writes the figures that follow the
paper's (:data:`PAPER`) as PNGs into ``<out>/paper/``.

Run::

    .venv/bin/python examples/render_all.py
    .venv/bin/python examples/render_all.py --paper
    .venv/bin/python examples/render_all.py --out /tmp/diagrams --depth 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ncdl
from ncdl import architectures
from ncdl.compiler.diagram import write_diagram

#: The paper's figures drawn from the bundled files: (figure, file, model, render options).
PAPER: tuple[tuple[str, str, str, dict[str, object]], ...] = (
    ("fig19_mlp", "mlp", "MLP", {}),
    ("fig20_attention", "attention", "Attention", {}),  # a library circuit, its axes symbolic
    ("fig21_multihead", "mha", "MultiHead", {}),
    ("fig26_identity_resnet", "identity_resnet", "IdentityResNet", {}),
    ("fig27_unet", "unet", "UNet", {}),
    ("fig28_visual_attention", "visual_attention", "VisualAttention", {}),
)


def render_paper(out: str | Path = "docs/diagrams/paper") -> list[Path]:
    """Write the figures of :data:`PAPER` as PNGs into ``out``; return the paths written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for figure, name, model, options in PAPER:
        path = folder / f"{figure}.png"
        program = architectures.load(name)
        program = program if program.models else program.symbolic_circuit(model)
        message = write_diagram(program.render(model, **options), str(path))  # type: ignore[arg-type]
        if message:
            print(message, file=sys.stderr)
            path = path.with_suffix(".dot")
        written.append(path)
        print(path)
    return written


def render_all(out: str | Path = "docs/diagrams", depth: int | None = None) -> list[Path]:
    """Write one diagram per bundled model into ``out``; return the paths written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in architectures.list_architectures():
        program = architectures.load(name)
        drawn = [(model, program) for model in program.models] or list(_library_circuits(name, program))
        for model, source in drawn:
            start = time.perf_counter()
            path = folder / f"{name}_{model}.svg"
            options = {} if depth is None else {"depth": depth}
            message = write_diagram(source.render(model, **options), str(path))
            if message:  # no Graphviz: DOT text next to it
                print(message, file=sys.stderr)
                path = path.with_suffix(".dot")
            written.append(path)
            print(f"{path}  ({time.perf_counter() - start:.2f} s)")
    return written


def _library_circuits(name: str, program: ncdl.Program) -> Iterator[tuple[str, ncdl.Program]]:
    """Each circuit of a library file that can be drawn with its axes symbolic."""
    for circuit in program.circuits:
        try:
            yield circuit, program.symbolic_circuit(circuit)
        except ncdl.NcdlError as err:
            print(f"{name}: {circuit} needs sizes to be drawn ({str(err).splitlines()[0].split(': ', 1)[-1]})")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out`` and ``--depth``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/diagrams", help="output folder (default docs/diagrams)")
    parser.add_argument("--depth", type=int, help="draw circuits deeper than this as single boxes")
    parser.add_argument("--paper", action="store_true", help="also write the paper's figures as PNGs in <out>/paper")
    args = parser.parse_args(argv)
    written = render_all(args.out, args.depth)
    if args.paper:
        written += render_paper(Path(args.out) / "paper")
    print(f"{len(written)} diagrams in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

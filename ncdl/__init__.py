"""ncdl: neural circuit diagrams as a language.

The whole public API::

    program = ncdl.load("gpt.ncd")      # or ncdl.loads(text)
    program.models                      # compile targets
    program.graph()                     # the checked IR (networkx)
    program.to_torch()                  # torch.fx.GraphModule
    program.to_onnx()                   # onnx.ModelProto
    program.render()                    # graphviz.Digraph
    ncdl.render_text(text)              # (diagram, error): draws a broken program up to its error
    program.stats()                     # params, FLOPs, activation memory

Mistakes in a ``.ncd`` file raise :class:`NcdlError`.
"""

from ncdl.dsl.diagnostics import Diagnostic, NcdlError
from ncdl.program import Program, compile, load, loads, render_text
from ncdl.version import __version__ as __version__

__all__ = ["Diagnostic", "NcdlError", "Program", "compile", "load", "loads", "render_text"]

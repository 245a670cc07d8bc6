"""Names that the backends turn into Python: checked so that every checked
model compiles.

Instance paths become attribute paths on a ``torch.nn.Module``
(``blocks.0.attn.q.weight``) and model inputs become the arguments of its
``forward``. A Python keyword (``class``, ``else``), a name the module class
already uses (``training``, ``forward``, ``state_dict``), or an input called
``self``, ``torch`` (the generated code's own names) or ``output`` (the ONNX
graph's result) cannot, so each is a diagnostic (E148) rather than a crash in
a backend.
"""

from __future__ import annotations

import keyword
from importlib import resources

import networkx as nx

from ncdl.dsl.diagnostics import Diagnostic, Span

#: Attributes of ``torch.fx.GraphModule`` (and so of ``torch.nn.Module``) besides dunders, derived once
#: from torch by ``tools/torch_names.py`` into ``torch_names.txt`` (the front end does not import torch);
#: ``tests/dsl/test_torch_names.py`` fails when the installed torch's names differ.
MODULE_ATTRIBUTES = frozenset(
    line
    for line in resources.files("ncdl.dsl").joinpath("torch_names.txt").read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
)
#: Input names the generated ``forward`` or the ONNX graph already uses.
INPUT_NAMES = {"self": "the module itself", "torch": "the torch module", "output": "the model's result"}


def check_names(g: nx.MultiDiGraph, sources: dict[str, list[str]]) -> list[Diagnostic]:
    """Diagnostics for parameter paths and input names the backends cannot use."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        name = data["attrs"].get("name") or data["name"]
        reason = "it is a Python keyword" if keyword.iskeyword(name) else INPUT_NAMES.get(name)
        if reason is not None:
            why = reason if reason.startswith("it ") else f"it names {reason} in the compiled model"
            out.append(_at(data, sources, f"'{name}' cannot name a model input: {why}", "rename the input"))
    for _node, data in g.nodes(data=True):
        for p in (data.get("params") or []) + (data.get("buffers") or []):
            for part in p["name"].split("."):
                if part in seen or not (keyword.iskeyword(part) or part in MODULE_ATTRIBUTES or part[:2] == "__"):
                    continue
                seen.add(part)
                why = "it is a Python keyword" if keyword.iskeyword(part) else "torch.nn.Module already uses it"
                message = f"'{part}' cannot name an instance (in '{p['name']}'): {why}"
                out.append(_at(data, sources, message, "choose another name, e.g. with `as name`"))
    out += _tensor_and_module(g, sources)
    return out


def _tensor_and_module(g: nx.MultiDiGraph, sources: dict[str, list[str]]) -> list[Diagnostic]:
    """A path may name a tensor or a module, not both: ``param(...) as pos`` beside
    ``linear(...) as pos.proj`` would make ``pos`` a parameter and a submodule."""
    tensors = {}
    for _node, data in g.nodes(data=True):
        for p in (data.get("params") or []) + (data.get("buffers") or []):
            tensors[p["name"]] = data
    out = []
    reported: set[str] = set()
    for name in tensors:
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in tensors and prefix not in reported:
                reported.add(prefix)
                message = f"'{prefix}' names a tensor and also the module holding '{name}'"
                out.append(_at(tensors[prefix], sources, message, "label one of them `as` another path"))
    return out


def _at(data: dict, sources: dict[str, list[str]], message: str, hint: str) -> Diagnostic:
    d = data.get("span") or {}
    span = Span(d["file"], d["line"], d["col"], d["end_line"], d["end_col"]) if d else None
    lines = sources.get(span.file) if span else None
    line = lines[span.line - 1] if lines and 0 < span.line <= len(lines) else None
    return Diagnostic("E148", message, span, hint, line)

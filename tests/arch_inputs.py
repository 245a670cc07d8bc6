"""Shared scaffolding of the tests of the bundled architectures (pytest has ``tests/`` on its pythonpath).

Random inputs for a model's IR (free axes get small sizes, integers index their axis), the models too large to
run in a unit test, and the image models of the vision references at a chosen side.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

import ncdl
from ncdl import ir

#: Models too large to run in a unit test (their parameter counts and FLOPs rules are tested).
LARGE = {
    "GPT2Small",
    "GPT2Medium",
    "ViTB16",
    "ResNet34",
    "ResNet50",
    "UNet",
    "Llama3_8B",
    "ConvNeXtTiny",
    "BertBase",
    "SwinTiny",
    "EfficientNetB0",
}

#: Sizes given to free root axes (by name), else FREE_SIZE.
FREE_SIZES = {"batch": 2}
FREE_SIZE = 7


def sample_inputs(g: nx.MultiDiGraph, seed: int = 0) -> list[torch.Tensor]:
    """One random tensor per model input, in signature order."""
    gen = torch.Generator().manual_seed(seed)
    axes = g.graph["axes"]
    roots = {root: min(FREE_SIZES.get(root, FREE_SIZE), axes[root].bound or FREE_SIZE) for root in g.graph["bindings"]}
    out = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = [axes[a].size.evaluate(roots) if axes[a].fixed is None else axes[a].fixed for a in data["axes"]]
        if data["dtype"] == "int64":
            high = axes[data["attrs"]["of"]].fixed
            out.append(torch.randint(0, high, shape, generator=gen))
        elif data["dtype"] == "bool":  # a padding mask: keep the first position of every row
            keep = torch.rand(shape, generator=gen) > 0.3
            keep[(slice(None),) * (len(shape) - 1) + (0,)] = True
            out.append(keep)
        else:
            out.append(torch.randn(shape, generator=gen))
    return out


def param_names(g: nx.MultiDiGraph) -> list[str]:
    """Every parameter name of ``g`` (tied ones included)."""
    return [p["name"] for n in ir.topological(g) for p in g.nodes[n]["params"]]


def outputs(result: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """A module's results as a tuple (a model with several results returns one already)."""
    return result if isinstance(result, tuple) else (result,)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """The largest absolute difference, relative to the largest magnitude of ``want``."""
    return float(np.abs(got - want).max() / np.abs(want).max())


def image(batch: int, side: int) -> torch.Tensor:
    """A random RGB batch ``[batch, 3, side, side]``, the same for the same sizes."""
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(batch * 1000 + side))


def image_model(name: str, model: str, side: int, source: str | None = None, /, **sizes: int) -> ncdl.Program:
    """The model ``At``: ``model`` of ``architectures/<name>.ncd`` for ``side`` x ``side`` images (and ``sizes``).

    ``source`` replaces the ``use`` of the bundled file by a text of its own (a negative control's changed copy).
    The first four are positional, so that ``sizes`` may bind an axis called ``model``.
    """
    head = f'use "{name}.ncd"\n' if source is None else source
    bindings = ", ".join(f"{axis} = {size}" for axis, size in {"y": side, "x": side, **sizes}.items())
    return ncdl.loads(f"{head}model At = {model}[{bindings}]\n", f"{name}_at.ncd")

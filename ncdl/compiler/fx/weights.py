"""Parameters and buffers of a compiled module, laid out by instance path.

Every IR parameter ``blocks.0.attn.q.weight`` becomes an ``nn.Parameter``
named ``weight`` on a plain ``nn.Module`` reached as ``blocks.0.attn.q``, so
``state_dict()`` keys are exactly the IR names. A parameter with ``tied_to``
is the *same* ``nn.Parameter`` registered under its own name too: like tied
weights in torch.nn, ``state_dict()`` then lists both names (pointing at one
tensor) while ``named_parameters()`` yields it once, under the owner's name
(the one ``tied_to`` names). ``load_state_dict`` expects both keys and
copies both into the one tensor, so their values should agree.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import torch
from torch import nn

from ncdl.ir import topological

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def build_state(g: nx.MultiDiGraph) -> nn.Module:
    """A module tree holding every parameter and buffer of ``g``, initialised.

    Initialisation follows each tensor's ``init`` dict, in node order, using
    torch's global generator (so ``torch.manual_seed`` makes it repeatable).
    """
    root = nn.Module()
    made: dict[str, nn.Parameter] = {}
    tied: list[dict[str, Any]] = []
    for node in topological(g):
        data = g.nodes[node]
        for p in data["params"]:
            if p.get("tied_to"):
                tied.append(p)
                continue
            param = nn.Parameter(torch.empty(p["shape"], dtype=torch.float32))
            _initialise(param, p)
            made[p["name"]] = param
            _install(root, p["name"], param, buffer=False)
        for b in data["buffers"]:
            dtype = _DTYPES[b.get("dtype") or ("int64" if b["key"] == "num_batches_tracked" else "float32")]
            buf = torch.zeros(b["shape"], dtype=dtype)
            _initialise(buf, b)
            _install(root, b["name"], buf, buffer=True)
    for p in tied:
        _install(root, p["name"], made[p["tied_to"]], buffer=False)
    return root


def _initialise(t: torch.Tensor, spec: dict[str, Any]) -> None:
    init = spec.get("init") or {"kind": "zeros"}
    kind = init["kind"]
    with torch.no_grad():
        if kind == "uniform":
            t.uniform_(init["low"], init["high"])
        elif kind == "normal":
            t.normal_(init.get("mean", 0.0), init["std"])
        elif kind == "zeros":
            t.zero_()
        elif kind == "ones":
            t.fill_(1)
        elif kind == "constant":
            t.fill_(init["value"])
        else:
            raise ValueError(f"{spec['name']}: unknown init kind {kind!r}")


def _install(root: nn.Module, name: str, tensor: torch.Tensor, *, buffer: bool) -> None:
    *path, leaf = name.split(".")
    module = root
    for part in path:
        child = module._modules.get(part)
        if child is None:
            child = nn.Module()
            module.add_module(part, child)
        module = child
    if buffer:
        module.register_buffer(leaf, tensor)
    else:
        module.register_parameter(leaf, tensor)  # type: ignore[arg-type]

"""Parameters and buffers of a compiled module, laid out by instance path.

Every IR parameter ``blocks.0.attn.q.weight`` becomes an ``nn.Parameter``
named ``weight`` on a plain ``nn.Module`` reached as ``blocks.0.attn.q``, so
``state_dict()`` keys are exactly the IR names. A parameter with ``tied_to``
is the *same* ``nn.Parameter`` registered under its own name too: like tied
weights in torch.nn, ``state_dict()`` then lists both names (pointing at one
tensor) while ``named_parameters()`` yields it once, under the owner's name
(the one ``tied_to`` names). ``load_state_dict`` expects both keys and
copies both into the one tensor, so their values should agree.

torch.nn stores fused wires flat (``nn.Linear``'s ``[heads*head, model]``
where ncdl has ``[heads, head, model]``): :class:`FlatLoad`, a
``load_state_dict`` pre-hook, reshapes such tensors on the way in, so a
reference model's ``state_dict()`` loads as it is; :class:`FlatSave`, a
``state_dict`` post-hook (``to_torch(..., flat_weights=True)``), gives
torch.nn's shapes on the way out. Only exact reshapes (runs of adjacent
dimensions merged, :func:`ncdl.ir.flat.is_flattening`) are made.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import torch
from torch import nn

from ncdl.ir import topological
from ncdl.ir.flat import flat_shape, is_flattening

_DTYPES = {"float32": torch.float32, "int64": torch.int64, "bool": torch.bool}


class Instance(nn.Module):
    """The module of one instance path (``h.0.attn.q``): it holds that
    instance's tensors, and prints the box they belong to and their shapes::

        (q): Instance(linear[model -> heads head]; weight 4x32x128 [heads, head, model]; bias 4x32 [heads, head])
    """

    def extra_repr(self) -> str:
        box = self.__dict__.get("_ncdl_box", "")
        axes = self.__dict__.get("_ncdl_axes", {})
        held = [*self._parameters.items(), *self._buffers.items()]
        parts = [box] * bool(box)
        for key, t in held:
            if t is not None:
                shape = "x".join(map(str, t.shape)) or "scalar"
                named = f" [{', '.join(axes[key])}]" if axes.get(key) else ""
                parts.append(f"{key} {shape}{named}")
        return "; ".join(parts)


def _box_text(data: dict[str, Any]) -> str:
    """``linear[model -> heads head]``: a learned box as the author wrote it."""
    a, op = data["attrs"], data["op"]
    if op == "linear":
        return f"linear[{' '.join(a['in'])} -> {' '.join(a['out'])}]"
    if op == "embed":
        return f"embed[{a['vocab']} -> {' '.join(a['out'])}]"
    if op == "conv":
        spatial = ", ".join(i if i == o else f"{i} -> {o}" for i, o in a["spatial"])
        return f"{'conv_transpose' if a['transposed'] else 'conv'}[{a['in']} -> {a['out']}, {spatial}]"
    if op in ("layernorm", "rmsnorm"):
        return f"{op}[{', '.join(a['axes'])}]"
    if op == "batchnorm":
        return f"batchnorm[{a['axis']}]"
    return op


def build_state(g: nx.MultiDiGraph) -> nn.Module:
    """A module tree holding every parameter and buffer of ``g``, initialised.

    Initialisation follows each tensor's ``init`` dict, in node order, using
    torch's global generator (so ``torch.manual_seed`` makes it repeatable).
    """
    root = nn.Module()
    made: dict[str, nn.Parameter] = {}
    tied: list[dict[str, Any]] = []
    joined = _joined_storage(g)
    for node in topological(g):
        data = g.nodes[node]
        for spec in [*data["params"], *data["buffers"]]:
            _describe(root, spec, _box_text(data))
        for p in data["params"]:
            if p.get("tied_to"):
                tied.append(p)
                continue
            param = nn.Parameter(joined.get(p["name"], torch.empty(p["shape"], dtype=torch.float32)))
            _initialise(param, p)
            made[p["name"]] = param
            _install(root, p["name"], param, buffer=False)
        for b in data["buffers"]:
            dtype = _DTYPES[b.get("dtype") or ("int64" if b["key"] == "num_batches_tracked" else "float32")]
            buf = torch.zeros(b["shape"], dtype=dtype)
            _initialise(buf, b)
            _install(root, b["name"], buf, buffer=True, persistent=b.get("persistent", True))
    for p in tied:
        _install(root, p["name"], made[p["tied_to"]], buffer=False)
    return root


def _joined_storage(g: nx.MultiDiGraph) -> dict[str, torch.Tensor]:
    """Views, back to back in one storage per group and key, for the tensors of sibling linears.

    The torch.fx backend runs a group marked by ``fuse_sibling_linears`` as one
    matmul over the joined weights (:func:`ncdl.compiler.fx.runtime.join_flat`);
    placed like this, joining them is a view rather than a copy on every step.
    """
    views: dict[str, torch.Tensor] = {}
    for node in topological(g):
        members = g.nodes[node].get("siblings")
        if not members:
            continue
        for key in ("weight", "bias"):
            specs = [p for m in members for p in g.nodes[m]["params"] if p["key"] == key]
            if len(specs) != len(members):
                continue
            sizes = [math.prod(p["shape"]) for p in specs]
            storage = torch.empty(sum(sizes), dtype=torch.float32)
            for p, part in zip(specs, storage.split(sizes), strict=True):
                views[p["name"]] = part.view(p["shape"])
    return views


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


def _owner(root: nn.Module, path: list[str]) -> nn.Module:
    """The module at ``path`` below ``root``, creating empty :class:`Instance` modules on the way."""
    module = root
    for part in path:
        child = module._modules.get(part)
        if child is None:
            child = Instance()
            module.add_module(part, child)
        module = child
    return module


def _describe(root: nn.Module, spec: dict[str, Any], box: str) -> None:
    """Note on the instance's module which box its tensor ``spec`` belongs to."""
    *path, leaf = spec["name"].split(".")
    module = _owner(root, path)
    if path:
        module.__dict__["_ncdl_box"] = box
        module.__dict__.setdefault("_ncdl_axes", {})[leaf] = [a for a in spec["axes"] if not a.startswith("<")]


def _install(root: nn.Module, name: str, tensor: torch.Tensor, *, buffer: bool, persistent: bool = True) -> None:
    *path, leaf = name.split(".")
    module = _owner(root, path)
    if buffer:
        module.register_buffer(leaf, tensor, persistent=persistent)
    else:
        module.register_parameter(leaf, tensor)  # type: ignore[arg-type]


class FlatLoad:
    """A ``load_state_dict`` pre-hook: an entry whose shape flattens the parameter's
    (torch.nn's ``[heads*head, model]`` for ``[heads, head, model]``, or
    ``[1, 1, model]`` for ``[one, model]``) is reshaped to it.

    A class rather than a closure, so that the module still pickles.
    """

    def __init__(self, shapes: dict[str, list[int]]) -> None:
        self.shapes = shapes

    def __call__(self, module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        for name, shape in self.shapes.items():
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and list(value.shape) != shape and is_flattening(value.shape, shape):
                state_dict[prefix + name] = value.reshape(shape)


class FlatSave:
    """A ``state_dict`` post-hook giving each parameter in torch.nn's (flat) shape."""

    def __init__(self, shapes: dict[str, list[int]]) -> None:
        self.shapes = shapes

    def __call__(self, module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        for name, shape in self.shapes.items():
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor):
                state_dict[prefix + name] = value.reshape(shape)


def flat_hooks(module: nn.Module, g: nx.MultiDiGraph, *, save_flat: bool) -> None:
    """Let ``module`` load torch.nn's flat weights, and with ``save_flat`` also give them."""
    params, flats = {}, {}
    for node in topological(g):
        for p in g.nodes[node]["params"]:  # tied copies too: state_dict lists them under their own names
            params[p["name"]] = p
            if p.get("flat"):
                flats[p["name"]] = p
    module.register_load_state_dict_pre_hook(FlatLoad({name: list(p["shape"]) for name, p in params.items()}))
    if save_flat:
        module.register_state_dict_post_hook(FlatSave({name: flat_shape(p) for name, p in flats.items()}))

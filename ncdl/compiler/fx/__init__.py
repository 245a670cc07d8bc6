"""torch.fx backend: a trainable ``torch.fx.GraphModule`` built from the IR.

The module is written node by node with ``torch.fx.Graph`` from the IR (no
Python is traced). Its ``forward`` takes the model's inputs by name, in
signature order, checks their shapes (:class:`InputShapeError`), and returns
one tensor, or a tuple for several outputs. Parameters and buffers sit on
nested modules so that ``state_dict()`` keys are the IR's parameter names
(see :mod:`ncdl.compiler.fx.weights` for tied weights). The passes it runs
first are :data:`ncdl.compiler.pipeline.FX_PASSES`; the lowering table is
:data:`ncdl.compiler.fx.table.RULES`.

Example:
    >>> gm = lower_fx(program.graph())
    >>> print(gm.code)          # what ``ncdl compile --print`` shows
    >>> gm(x).sum().backward()
"""

from __future__ import annotations

import networkx as nx
import torch
import torch.fx as fx

from ncdl.compiler.fx.hierarchy import (
    TaggingEmitter,
    keep_marks_within_units,
    module_code,
    split_into_units,
    unit_depth,
)
from ncdl.compiler.fx.lower import FxEmitter
from ncdl.compiler.fx.runtime import InputShapeError
from ncdl.compiler.fx.table import FUSED, RULES
from ncdl.compiler.fx.weights import build_state, flat_hooks
from ncdl.compiler.heap import frozen_heap
from ncdl.compiler.pipeline import FX_PASSES, run_passes

__all__ = ["InputShapeError", "lower_fx", "module_code"]


def lower_fx(
    g: nx.MultiDiGraph, hierarchy: str | int = "instances", *, flat_weights: bool = False, fuse_linears: bool = False
) -> fx.GraphModule:
    """A trainable ``torch.fx.GraphModule`` computing the model ``g``.

    Args:
        g: a checked IR graph (see :mod:`ncdl.ir`).
        hierarchy: ``"instances"`` (default): every circuit instance and every
            iteration of a ``repeat`` is a GraphModule submodule of its own
            (see :mod:`ncdl.compiler.fx.hierarchy`); an int ``n``: only the
            outermost ``n`` levels of them; ``"flat"``: one graph, the whole
            computation in the root's ``forward``. Parameter names,
            ``state_dict()`` and results are the same in every form.
        flat_weights: ``state_dict()`` gives torch.nn's flat shapes (``[heads*head, model]``)
            instead of ncdl's axis shapes. Either way ``load_state_dict`` accepts both.
        fuse_linears: linears reading the same input (q, k, v; gate and up) run as one matmul
            over their joined weights (``passes/linear_siblings.py``). Off by default: on the CPU
            the separate products train 3-5% faster at transformer sizes (a 1408-wide product
            runs slower per FLOP than two 704-wide ones, and the backward joins the gradients);
            see BENCHMARKS.md §9.

    Returns:
        A GraphModule whose parameters are freshly initialised from each
        parameter's ``init`` and whose ``forward`` runs at any size of the
        free axes (up to their bounds).
    """
    with frozen_heap():
        return _lower_fx(g, hierarchy, flat_weights, fuse_linears)


def _lower_fx(g: nx.MultiDiGraph, hierarchy: str | int, flat_weights: bool, fuse_linears: bool) -> fx.GraphModule:
    depth = unit_depth(hierarchy)
    passes = FX_PASSES if fuse_linears else tuple(p for p in FX_PASSES if p.name != "fuse_sibling_linears")
    g = run_passes(g, passes)
    if depth != 0:
        g = keep_marks_within_units(g, depth)
        emitter = TaggingEmitter(g, depth)
        gm = split_into_units(emitter.run(emitter.tagged(RULES), emitter.tagged(FUSED)), g, build_state(g), depth)
        flat_hooks(gm, g, save_flat=flat_weights)
        return gm
    graph = FxEmitter(g).run(RULES, FUSED)
    state = build_state(g)
    gm = fx.GraphModule(torch.nn.Module(), fx.Graph(), class_name=g.graph.get("model") or "Model")
    for name, child in state.named_children():
        gm.add_module(name, child)
    for name, param in state._parameters.items():
        gm.register_parameter(name, param)
    for name, buf in state._buffers.items():
        gm.register_buffer(name, buf, persistent=name not in state._non_persistent_buffers_set)
    gm.graph = graph
    gm.recompile()
    flat_hooks(gm, g, save_flat=flat_weights)
    return gm

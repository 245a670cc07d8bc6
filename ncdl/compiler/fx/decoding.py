"""The torch step module of incremental decoding (see :mod:`ncdl.compiler.decoding`).

The step graph lowered to one flat ``GraphModule``: ``forward(tokens, offset,
past_key_values_0_key, ...)`` returns ``(logits, present.0.key, ...)``. Each
cache append is marked by the ``mark_kv_cache`` pass and written in place when
the past is the front of a preallocated buffer (:func:`runtime.cache_append`),
which :class:`ncdl.runtime.generate.TorchDecoder` arranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import torch
import torch.fx as fx

from ncdl.compiler.decoding import decoding
from ncdl.compiler.fx import lower_fx

__all__ = ["lower_fx_step"]


def lower_fx_step(
    g: nx.MultiDiGraph, state_dict: Mapping[str, torch.Tensor] | None = None
) -> tuple[fx.GraphModule, dict[str, Any]]:
    """The step module of ``g`` (weights from ``state_dict`` when given) and its layout
    (:meth:`ncdl.compiler.decoding.Decoding.layout`).

    Raises:
        DecodingError: the model cannot be decoded incrementally (E230-E234).
    """
    d = decoding(g)
    step = lower_fx(d.step, "flat")
    if state_dict is not None:
        step.load_state_dict(dict(state_dict))
    return step.eval(), d.layout()

"""The ONNX step graph of incremental decoding (see :mod:`ncdl.compiler.decoding`).

One file serves the whole generation: the prompt runs through it with an
empty cache (``past_seq`` = 0, ``offset`` = 0), each new token with the
cache the previous call returned. Its inputs are ``tokens``, ``offset`` and
``past_key_values.{i}.key`` / ``.value``; its outputs the model's logits and
``present.{i}.key`` / ``.value``; dims are named from the ncdl axes
(``[batch, 4, past_seq, 32]`` in, ``[batch, 4, past_seq + seq, 32]`` out). The
metadata entry ``ncdl.decoding`` describes the layout for
:mod:`ncdl.runtime.generate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import onnx
from onnx import helper

from ncdl.compiler.decoding import decoding
from ncdl.compiler.onnx import lower_onnx
from ncdl.compiler.pipeline import OPSET_DEFAULT

__all__ = ["lower_onnx_step"]


def lower_onnx_step(
    g: nx.MultiDiGraph, state_dict: Mapping[str, Any] | None = None, opset: int = OPSET_DEFAULT, *, seed: int = 0
) -> onnx.ModelProto:
    """The step graph of ``g`` as an ONNX model with the ``ncdl.decoding`` metadata entry.

    Raises:
        DecodingError: the model cannot be decoded incrementally (E230-E234).
    """
    d = decoding(g)
    model = lower_onnx(d.step, state_dict, opset, seed=seed)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["ncdl.decoding"] = d.to_json()
    del model.metadata_props[:]
    helper.set_model_props(model, meta)
    return model

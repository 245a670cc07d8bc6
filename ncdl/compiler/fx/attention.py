"""torch.fx lowering of a fused attention chain: one ``F.scaled_dot_product_attention`` call.

The chain is found and marked by :func:`ncdl.compiler.passes.attention.fuse_attention`
(run by :mod:`ncdl.compiler.pipeline`); the final contract carries the ``fused`` mark
and is lowered here, the intermediates carry ``fused_into`` and are skipped.
"""

from __future__ import annotations

from typing import Any

import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx.lower import FxEmitter, FxValue


def attention(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """One ``F.scaled_dot_product_attention`` for a chain marked by the attention pass."""
    f = data["fused"]
    name = data["name"]
    vals = {key: (lw.values[f[key]], lw.g.nodes[f[key]]["axes"]) for key in ("q", "k", "v")}
    batch, length, key, head, value = f["batch"], f["query"], f["key"], f["head"], f["value"]
    q = lw.permute(*vals["q"], batch + [length, head], f"{name}_q")
    k = lw.permute(*vals["k"], batch + [key, head], f"{name}_k")
    v = lw.permute(*vals["v"], batch + [key, value], f"{name}_v")
    y = lw.call(F.scaled_dot_product_attention, q, k, v, is_causal=f["causal"], scale=f["scale"], name=name)
    return lw.finish(y, batch + [length, value], data)

"""torch.fx lowering of a fused attention chain: one ``F.scaled_dot_product_attention`` call.

The chain is found and marked by :func:`ncdl.compiler.passes.attention.fuse_attention`
(run by :mod:`ncdl.compiler.pipeline`); the final contract carries the ``fused`` mark
and is lowered here, the intermediates carry ``fused_into`` and are skipped.
"""

from __future__ import annotations

from typing import Any

import torch.fx as fx
import torch.nn.functional as F

from ncdl.compiler.fx import runtime
from ncdl.compiler.fx.lower import FxEmitter, FxValue


def attention(lw: FxEmitter, data: dict[str, Any], ins: list[FxValue]) -> fx.Node:
    """One ``F.scaled_dot_product_attention`` for a chain marked by the attention pass.

    A mask (keep where true), a bias and causality become its ``attn_mask`` (see :func:`runtime.attention_mask`).
    """
    f = data["fused"]
    name = data["name"]
    vals = {key: (lw.values[f[key]], lw.g.nodes[f[key]]["axes"]) for key in ("q", "k", "v")}
    batch, length, key, head, value = f["batch"], f["query"], f["key"], f["head"], f["value"]
    group = f["group"]
    if group is not None:  # [..., kv heads, group, L, E] -> [..., kv heads * group, L, E]; enable_gqa pairs them
        q = lw.permute(*vals["q"], batch + [group, length, head], f"{name}_q")
        q = lw.method("flatten", q, len(batch) - 1, len(batch), name=f"{name}_q")
    else:
        q = lw.permute(*vals["q"], batch + [length, head], f"{name}_q")
    k = lw.permute(*vals["k"], batch + [key, head], f"{name}_k")
    v = lw.permute(*vals["v"], batch + [key, value], f"{name}_v")
    scores = batch + [length, key]
    extra = [
        lw.align((lw.values[f[x]], lw.g.nodes[f[x]]["axes"]), scores, f"{name}_{x}") if f[x] else None
        for x in ("mask", "bias")
    ]
    kwargs = {"scale": f["scale"], "enable_gqa": True} if group is not None else {"scale": f["scale"]}
    if any(extra):
        kwargs["attn_mask"] = lw.call(runtime.attention_mask, q, k, *extra, f["causal"], name=f"{name}_mask")
        y = lw.call(F.scaled_dot_product_attention, q, k, v, name=name, **kwargs)
    elif f["causal"] and lw.g.graph["axes"][length].size != lw.g.graph["axes"][key].size:
        # more keys than queries (a decoding step): causality aligned bottom-right, not SDPA's top-left
        y = lw.call(runtime.causal_attention, q, k, v, name=name, **kwargs)
    else:
        y = lw.call(F.scaled_dot_product_attention, q, k, v, name=name, is_causal=f["causal"], **kwargs)
    if group is not None:
        y = lw.method("unflatten", y, len(batch) - 1, (-1, lw.size(group)), name=f"{name}_heads")
        return lw.finish(y, batch + [group, length, value], data)
    return lw.finish(y, batch + [length, value], data)

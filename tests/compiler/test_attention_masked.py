"""Attention with a boolean mask, an additive bias and causality is still one fused kernel.

Each variant is a small ``.ncd`` program; the pass must mark its chain, the
torch module must call ``F.scaled_dot_product_attention`` once and match a
plain torch reference (values and gradients), and the ONNX export must hold
one ``Attention`` at opset 23 and agree with torch at opsets 17 and 23.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from fx_compare import assert_matches
from onnx_helpers import session

import ncdl
from ncdl.compiler.passes.attention import fuse_attention

HEAD = """axis batch, seq <= 16, key ~ seq, heads = 2, head = 4, model = 8
model Att(x: [batch, seq, model], keep: bool[batch, key], rel: [heads, seq, key]) -> [batch, seq, model] {
    q = linear[model -> heads head](x) as q
    k = rename[seq -> key](linear[model -> heads head](x) as k)
    v = rename[seq -> key](linear[model -> heads head](x) as v)
"""
TAIL = """    return linear[heads head -> model](contract[key](softmax[key](s), v)) as out
}
"""
#: variant -> (score lines, fused?, uses the mask, the bias, causality)
VARIANTS = {
    "mask": ("    s = mask[key](contract[head](q, k) / sqrt(head), keep)\n", True, True, False, False),
    "bias": ("    s = contract[head](q, k) * 0.5 + rel\n", True, False, True, False),
    "mask_bias_causal": (
        "    s = causal[seq, key](mask[key](contract[head](q, k) / sqrt(head) + rel, keep))\n",
        True,
        True,
        True,
        True,
    ),
    "window_and_causal": (
        "    near = positions[key]() > positions[seq]() - 2\n"
        "    s = causal[seq, key](mask[seq, key](contract[head](q, k) / sqrt(head), near and keep))\n",
        True,
        True,
        False,
        True,
    ),
    "bias_before_scale": ("    s = (contract[head](q, k) + rel) * 0.5\n", False, False, True, False),
}


def _reference(variant: str):
    _, _, use_mask, use_bias, causal = VARIANTS[variant]

    def ref(p, x, keep, rel):
        n, s, _ = x.shape
        q, k, v = (
            F.linear(x, p[f"{name}.weight"].reshape(8, 8), p[f"{name}.bias"].reshape(8))
            .view(n, s, 2, 4)
            .transpose(1, 2)
            for name in "qkv"
        )
        att = q @ k.transpose(-2, -1)
        att = (att + rel) * 0.5 if variant == "bias_before_scale" else att * 0.5 + (rel if use_bias else 0)
        allowed = torch.ones(n, 1, s, s, dtype=torch.bool)
        if use_mask:
            allowed = allowed & keep[:, None, None, :]
        if variant == "window_and_causal":
            i = torch.arange(s)
            allowed = allowed & (i[None, :] > i[:, None] - 2)
        if causal:
            allowed = allowed & torch.ones(s, s, dtype=torch.bool).tril()
        o = att.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
        return F.linear(o.transpose(1, 2).reshape(n, s, 8), p["out.weight"].reshape(8, 8), p["out.bias"])

    return ref


def _inputs(n: int, s: int) -> tuple[torch.Tensor, ...]:
    """x, a padding mask (every other sequence has its last key padded) and a relative-position bias."""
    keep = torch.arange(s)[None, :] < (s - torch.arange(n) % 2)[:, None]
    return torch.randn(n, s, 8), keep, torch.randn(2, s, s)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_masked_and_biased_attention_fuses_and_matches_torch(variant: str) -> None:
    lines, fused, use_mask, use_bias, causal = VARIANTS[variant]
    program = ncdl.loads(HEAD + lines + TAIL, "att.ncd")
    marks = [d["fused"] for _, d in fuse_attention(program.graph()).nodes(data=True) if d.get("fused")]
    if fused:
        (mark,) = marks
        assert (mark["mask"] is not None, mark["bias"] is not None, mark["causal"]) == (use_mask, use_bias, causal)
    else:
        assert marks == []
    gm = program.to_torch()
    assert gm.code.count("scaled_dot_product_attention(") == int(fused)
    for n, s in [(2, 5), (3, 7)]:
        torch.manual_seed(n)
        assert_matches(gm, _reference(variant), *_inputs(n, s))


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_masked_and_biased_attention_in_onnxruntime(variant: str, opset: int) -> None:
    fused = VARIANTS[variant][1]
    program = ncdl.loads(HEAD + VARIANTS[variant][0] + TAIL, "att.ncd")
    gm = program.to_torch()
    model = program.to_onnx(opset=opset, state_dict=gm.state_dict())
    onnx.checker.check_model(model, full_check=True)
    kinds = [node.op_type for node in model.graph.node]
    assert kinds.count("Attention") == int(fused and opset >= 23)
    sess = session(model)
    for n, s in [(2, 5), (1, 9)]:
        torch.manual_seed(n)
        x, keep, rel = _inputs(n, s)
        got = sess.run(None, {"x": x.numpy(), "keep": keep.numpy(), "rel": rel.numpy()})[0]
        np.testing.assert_allclose(got, gm(x, keep, rel).detach().numpy(), atol=1e-5, rtol=1e-5)


GQA = """axis batch, seq <= 16, key ~ seq, kv = 2, group = 3, head = 4, model = 8
model Gqa(x: [batch, seq, model], keep: bool[batch, key]) -> [batch, seq, model] {{
    q = linear[model -> kv group head](x) as q
    k = rename[seq -> key](linear[model -> kv head](x) as k)
    v = rename[seq -> key](linear[model -> kv head](x) as v)
    s = causal[seq, key]({scores})
    return linear[kv group head -> model](contract[key](softmax[key](s), v)) as out
}}
"""
GQA_SCORES = {
    "plain": "contract[head](q, k) / sqrt(head)",
    "masked": "mask[key](contract[head](q, k) / sqrt(head), keep)",
}


def _gqa_reference(masked: bool):
    def ref(p, x, keep):
        n, s, _ = x.shape
        q = F.linear(x, p["q.weight"].reshape(24, 8), p["q.bias"].reshape(24)).view(n, s, 2, 3, 4)
        k, v = (F.linear(x, p[f"{m}.weight"].reshape(8, 8), p[f"{m}.bias"].reshape(8)).view(n, s, 2, 4) for m in "kv")
        att = torch.einsum("nqhgd,nshd->nhgqs", q, k) * 0.5
        allowed = torch.ones(s, s, dtype=torch.bool).tril()
        if masked:
            allowed = allowed & keep[:, None, None, None, :]
        o = torch.einsum("nhgqs,nshd->nqhgd", att.masked_fill(~allowed, float("-inf")).softmax(-1), v)
        return F.linear(o.reshape(n, s, 24), p["out.weight"].reshape(8, 24), p["out.bias"])

    return ref


@pytest.mark.parametrize("scores", sorted(GQA_SCORES))
def test_grouped_query_attention_is_one_kernel_in_torch_and_onnx(scores: str) -> None:
    program = ncdl.loads(GQA.format(scores=GQA_SCORES[scores]), "gqa.ncd")
    (mark,) = [d["fused"] for _, d in fuse_attention(program.graph()).nodes(data=True) if d.get("fused")]
    assert (mark["group"], mark["batch"], mark["query"]) == ("group", ["batch", "kv"], "seq")
    gm = program.to_torch()
    assert gm.code.count("enable_gqa = True") == 1
    for n, s in [(2, 5), (3, 7)]:
        torch.manual_seed(n)
        x, keep, _ = _inputs(n, s)
        assert_matches(gm, _gqa_reference(scores == "masked"), x, keep)
    for opset in (17, 23):
        model = program.to_onnx(opset=opset, state_dict=gm.state_dict())
        onnx.checker.check_model(model, full_check=True)
        assert [node.op_type for node in model.graph.node].count("Attention") == int(opset >= 23)
        x, keep, _ = _inputs(2, 6)
        got = session(model).run(None, {"x": x.numpy(), "keep": keep.numpy()})[0]
        np.testing.assert_allclose(got, gm(x, keep).detach().numpy(), atol=1e-5, rtol=1e-5)

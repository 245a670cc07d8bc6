"""The attention pass marks q·k → scale → causal → softmax → ·v chains; fx emits one SDPA call."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from fx_compare import assert_matches
from irbuild import IRBuilder

from ncdl.compiler.fx import lower_fx
from ncdl.compiler.passes.attention import fuse_attention
from ncdl.ir import verify


def _attention(
    *, causal: bool = True, scale_op: str | None = "div", leak: bool = False, value_axis: str = "head"
) -> tuple[IRBuilder, dict[str, str]]:
    """Multi-head self-attention on [batch, seq, model] as the design sketch writes it."""
    b = IRBuilder()
    for name, size in [("batch", None), ("model", 8), ("heads", 2), ("head", 4)]:
        b.axis(name, size)
    b.axis("seq", bound=16)
    b.axis("key", alias="seq")
    x = b.input("x", ["batch", "seq", "model"])
    q = b.linear(x, ["model"], ["heads", "head"], scope="q", bias=False, name="q")
    k = b.op(
        "rename",
        [b.linear(x, ["model"], ["heads", "head"], scope="k", bias=False)],
        ["batch", "key", "heads", "head"],
        name="k",
        map={"seq": "key"},
    )
    v = b.op(
        "rename",
        [b.linear(x, ["model"], ["heads", "head"], scope="v", bias=False)],
        ["batch", "key", "heads", "head"],
        name="v",
        map={"seq": "key"},
    )
    if value_axis != "head":
        b.axis(value_axis, 4)
        v = b.op("rename", [v], ["batch", "key", "heads", value_axis], name="v", map={"head": value_axis})
    ids = {"q": q, "k": k, "v": v}
    s = ids["s"] = b.op("contract", [q, k], ["batch", "heads", "seq", "key"], name="s", over=["head"])
    if scale_op == "div":
        s = ids["scaled"] = b.op("div", [s], b.axes_of(s), name="s", const=math.sqrt(4), const_left=False)
    elif scale_op == "mul":
        s = ids["scaled"] = b.op("mul", [s], b.axes_of(s), name="s", const=0.5, const_left=True)
    if causal:
        s = ids["masked"] = b.op("causal", [s], b.axes_of(s), name="s", query="seq", key="key")
    p = ids["p"] = b.op("softmax", [s], b.axes_of(s), name="p", axis="key")
    o = ids["o"] = b.op("contract", [p, v], ["batch", "heads", "seq", value_axis], name="o", over=["key"])
    y = b.linear(o, ["heads", value_axis], ["model"], scope="out", name="y")
    b.output(y)
    if leak:
        b.output(ids["s"], name="scores")
    return b, ids


def _reference(causal: bool, scale: float):
    def ref(p, x):
        n, s, _ = x.shape
        q, k, v = (F.linear(x, p[f"{name}.weight"].reshape(8, 8)).view(n, s, 2, 4).transpose(1, 2) for name in "qkv")
        att = (q @ k.transpose(-2, -1)) * scale
        if causal:
            att = att.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
        o = att.softmax(-1) @ v
        return F.linear(o.transpose(1, 2).reshape(n, s, 8), p["out.weight"].reshape(8, 8), p["out.bias"])

    return ref


def test_pass_marks_the_whole_chain() -> None:
    b, ids = _attention()
    g = fuse_attention(b.graph())
    fused = g.nodes[ids["o"]]["fused"]
    assert fused["batch"] == ["batch", "heads"]
    assert (fused["query"], fused["key"], fused["head"], fused["value"]) == ("seq", "key", "head", "head")
    assert fused["causal"] is True and fused["scale"] == pytest.approx(0.5)
    assert {n for n in g if g.nodes[n].get("fused_into")} == {ids["s"], ids["scaled"], ids["masked"], ids["p"]}
    assert "fused" not in b.g.nodes[ids["o"]], "the pass must not modify its input graph"
    verify(g)
    assert [g.nodes[n]["op"] for n in g] == [b.g.nodes[n]["op"] for n in b.g], "ops are unchanged"


def test_pass_leaves_a_chain_whose_scores_are_used_elsewhere() -> None:
    b, ids = _attention(leak=True)
    g = fuse_attention(b.graph())
    assert not any(g.nodes[n].get("fused") or g.nodes[n].get("fused_into") for n in g)
    assert "scaled_dot_product_attention" not in lower_fx(b.graph()).code


@pytest.mark.parametrize(("causal", "scale_op", "scale"), [(True, "div", 0.5), (False, "mul", 0.5), (True, None, 1.0)])
def test_fused_attention_matches_reference(causal: bool, scale_op: str | None, scale: float) -> None:
    b, _ = _attention(causal=causal, scale_op=scale_op)
    gm = lower_fx(b.graph())
    code = gm.code
    assert code.count("scaled_dot_product_attention") == 1
    assert "softmax" not in code and "matmul" not in code and "permute" not in code
    for n, s in [(2, 5), (3, 9)]:
        torch.manual_seed(n)
        assert_matches(gm, _reference(causal, scale), torch.randn(n, s, 8))


def test_fused_attention_with_a_distinct_value_axis() -> None:
    b, ids = _attention(value_axis="dv")
    assert fuse_attention(b.graph()).nodes[ids["o"]]["fused"]["value"] == "dv"
    assert_matches(lower_fx(b.graph()), _reference(True, 0.5), torch.randn(2, 6, 8))


def test_unfused_chain_matches_reference() -> None:
    b, _ = _attention(leak=True)
    gm = lower_fx(b.graph())
    x = torch.randn(2, 5, 8)
    y, scores = gm(x)
    ref = _reference(True, 0.5)
    params = dict(gm.named_parameters())
    torch.testing.assert_close(y, ref(params, x), atol=1e-5, rtol=1e-5)
    assert scores.shape == (2, 2, 5, 5)

"""Sibling linears (q, k, v on one input) are marked by the pass and run as one matmul in torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ncdl
from ncdl.compiler.passes.linear_siblings import fuse_sibling_linears

SOURCE = """\
axis b, s = 5, m = 8, h = 2, d = 4, o = 3
model M(x: [b, s, m]) -> [b, s, h, d] {
    q = linear[m -> h d](x) as q
    k = linear[m -> h d](x) as k
    u = linear[m -> o](x, bias=false) as u
    w = linear[m -> h d](relu(x)) as w
    return q + k + w + sum[o](u)
}
"""


def test_the_pass_marks_linears_on_one_input_with_the_same_bias() -> None:
    g = fuse_sibling_linears(ncdl.loads(SOURCE).graph())
    by_scope = {data["scope"]: (node, data) for node, data in g.nodes(data=True) if data["op"] == "linear"}
    q, k = by_scope["q"], by_scope["k"]
    assert q[1]["siblings"] == [q[0], k[0]]
    assert k[1]["fused_into"] == q[0]
    for scope in ("u", "w"):  # no bias / another input: left alone
        assert "siblings" not in by_scope[scope][1] and "fused_into" not in by_scope[scope][1]


def test_torch_runs_one_linear_for_the_siblings_with_the_same_result() -> None:
    program = ncdl.loads(SOURCE)
    gm = program.to_torch()
    linears = [n for n in gm.graph.nodes if n.target is F.linear]
    assert len(linears) == 3  # q+k fused, u, w
    x = torch.randn(2, 5, 8)
    sd = gm.state_dict()

    def lin(name: str, t: torch.Tensor) -> torch.Tensor:
        w = sd[f"{name}.weight"].reshape(-1, 8)
        b = sd.get(f"{name}.bias")
        return F.linear(t, w, None if b is None else b.reshape(-1))

    q, k, w = lin("q", x), lin("k", x), lin("w", torch.relu(x))
    want = (q + k + w).unflatten(-1, (2, 4)) + lin("u", x).sum(-1)[..., None, None]
    torch.testing.assert_close(gm(x), want)
    gm(x).sum().backward()
    assert all(p.grad is not None for p in gm.parameters())

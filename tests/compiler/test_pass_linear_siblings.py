"""Sibling linears (q, k, v on one input) are marked by the pass and run as one matmul in torch."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

import ncdl
from ncdl.compiler.fx import runtime
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
    gm = program.to_torch(fuse_linears=True)
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


def _join_nodes(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [n for n in gm.graph.nodes if n.target is runtime.join_flat]


def test_sibling_weights_lie_back_to_back_so_the_fused_matmul_copies_no_weight() -> None:
    gm = ncdl.loads(SOURCE).to_torch(hierarchy="flat", fuse_linears=True)
    assert all(n.target is not torch.cat for n in gm.graph.nodes)
    assert len(_join_nodes(gm)) == 2  # weight and bias
    q, k = gm.get_submodule("q"), gm.get_submodule("k")
    assert q.weight.untyped_storage().data_ptr() == k.weight.untyped_storage().data_ptr()
    assert k.weight.storage_offset() == q.weight.storage_offset() + q.weight.numel()
    for parts in ((q.weight, k.weight), (q.bias, k.bias)):
        joined = runtime.join_flat(*parts)
        assert joined.data_ptr() == parts[0].data_ptr()  # a view
        torch.testing.assert_close(joined, torch.cat([p.reshape(-1) for p in parts]))


def test_gradients_through_the_joined_view_equal_those_through_a_copy() -> None:
    program = ncdl.loads(SOURCE)
    torch.manual_seed(0)
    gm = program.to_torch(hierarchy="flat", fuse_linears=True)
    x = torch.randn(3, 5, 8)
    gm(x).square().sum().backward()
    viewed = {name: p.grad.clone() for name, p in gm.named_parameters()}
    moved = copy.deepcopy(gm)  # deepcopy clones each parameter: no longer adjacent, so join_flat copies
    q, k = moved.get_submodule("q"), moved.get_submodule("k")
    assert k.weight.untyped_storage().data_ptr() != q.weight.untyped_storage().data_ptr()
    moved.zero_grad()
    moved(x).square().sum().backward()
    for name, p in moved.named_parameters():
        torch.testing.assert_close(p.grad, viewed[name])


def test_loading_a_state_dict_keeps_the_weights_joined() -> None:
    program = ncdl.loads(SOURCE)
    gm, other = program.to_torch(fuse_linears=True), program.to_torch(fuse_linears=True)
    gm.load_state_dict(other.state_dict())
    q, k = gm.get_submodule("q"), gm.get_submodule("k")
    assert k.weight.storage_offset() == q.weight.storage_offset() + q.weight.numel()
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(gm(x), other(x))


def test_an_optimizer_step_updates_the_weights_seen_by_the_fused_matmul() -> None:
    gm = ncdl.loads(SOURCE).to_torch(hierarchy="flat", fuse_linears=True)
    x = torch.randn(2, 5, 8)
    opt = torch.optim.SGD(gm.parameters(), lr=0.1)
    gm(x).sum().backward()
    opt.step()
    sd = gm.state_dict()
    q = F.linear(x, sd["q.weight"].reshape(-1, 8), sd["q.bias"].reshape(-1))
    fused = gm.get_submodule("q")
    assert fused.weight.untyped_storage().data_ptr() == gm.get_submodule("k").weight.untyped_storage().data_ptr()
    k = F.linear(x, sd["k.weight"].reshape(-1, 8), sd["k.bias"].reshape(-1))
    w = F.linear(torch.relu(x), sd["w.weight"].reshape(-1, 8), sd["w.bias"].reshape(-1))
    u = F.linear(x, sd["u.weight"].reshape(-1, 8))
    want = (q + k + w).unflatten(-1, (2, 4)) + u.sum(-1)[..., None, None]
    torch.testing.assert_close(gm(x), want)

"""Routing boxes: ``argtopk``, ``gather``, ``scatter`` and ``moe``, in torch and in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx_helpers import op_types, session

import ncdl
import ncdl.compiler.fx as fx_backend
from ncdl import architectures
from ncdl.compiler.pipeline import FX_PASSES, ROUTE_EXPERTS

ROUTER = """
axis batch, seq, expert = 6, choice = 3
model M(x: [batch, seq, expert]) -> [batch, expert, seq] {
    top = argtopk[expert -> choice](x, k=3)
    return scatter[choice -> expert](gather[expert](x, top), top)
}
"""

TABLE = """
axis tok, vocab = 7, d = 4
model M(table: [vocab, d], ids: int[tok] of vocab) -> [tok, d] { return gather[vocab](table, ids) }
"""

MOE = """
axis tok, model = 5, expert = 4, choice = 2, ffn = 6
circuit Experts[model, expert, ffn](x: [model]) -> [expert, model] {
    return contract[ffn](relu(contract[model](x, param[expert, ffn, model]() as up)), param[expert, model, ffn]() as down)
}
model M(x: [tok, model]) -> [tok, model] {
    logits = linear[model -> expert](x, bias=false) as gate
    top = argtopk[expert -> choice](logits, k=2)
    gates = scatter[choice -> expert](softmax[choice](gather[expert](logits, top)), top)
    return moe[expert](gates, Experts(x) as experts)
}
"""


def _distinct(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random values with no ties (top-k's order is then unique)."""
    gen = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    return (torch.randperm(n, generator=gen).float() / n - 0.5).reshape(shape) * 4


def test_argtopk_gather_scatter_keep_the_k_largest_in_place() -> None:
    program = ncdl.loads(ROUTER)
    x = _distinct(2, 5, 6)
    values, indices = torch.topk(x, 3, dim=-1)
    want = torch.zeros_like(x).scatter(-1, indices, values).permute(0, 2, 1)
    torch.testing.assert_close(program.to_torch()(x), want)
    model = program.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    assert {"TopK", "GatherElements", "ScatterElements"} <= set(op_types(model))
    (got,) = session(model).run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got, want.numpy())


def test_topk_gives_values_and_indices_like_torch_topk() -> None:
    source = """
axis batch, expert = 6, choice = 2
model M(x: [batch, expert]) -> (v: [batch, choice], i: int[batch, choice] of expert) {
    v, i = topk[expert -> choice](x, k=2)
    return v, i
}
"""
    program = ncdl.loads(source)
    x = _distinct(4, 6, seed=3)
    want = torch.topk(x, 2, dim=-1)
    values, indices = program.to_torch()(x)
    torch.testing.assert_close(values, want.values)
    assert torch.equal(indices, want.indices)
    got_values, got_indices = session(program.to_onnx()).run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got_values, want.values.numpy())
    np.testing.assert_array_equal(got_indices, want.indices.numpy())


def test_argtopk_is_an_integer_wire_of_its_axis() -> None:
    program = ncdl.loads(ROUTER)
    node = next(d for _, d in program.graph().nodes(data=True) if d["op"] == "argtopk")
    assert (node["dtype"], node["attrs"]["axis"], node["axes"]) == ("int64", "expert", ["batch", "seq", "choice"])


def test_gather_with_indices_of_other_axes_is_index_select() -> None:
    program = ncdl.loads(TABLE)
    table, ids = torch.randn(7, 4), torch.tensor([3, 0, 6, 3, 1])
    want = table.index_select(0, ids)
    torch.testing.assert_close(program.to_torch()(table, ids), want)
    (got,) = session(program.to_onnx()).run(None, {"table": table.numpy(), "ids": ids.numpy()})
    np.testing.assert_allclose(got, want.numpy())


RELATIVE = """
axis ty = 3, tx = 2, ky = ty, kx = tx, heads = 2, rel = (2 * ty - 1) * (2 * tx - 1)
model M(table: [rel, heads]) -> [ty, tx, ky, kx, heads] {
    dy = positions[ty](-positions[ky]()) + (ty - 1)
    return gather[rel](table, positions[tx](-positions[kx](-(dy * (2 * tx - 1) + (tx - 1)))))
}
"""


def test_gather_by_a_relative_position_index_is_the_reference_lookup() -> None:
    # Swin's relative_position_bias_table[relative_position_index], the index computed as the reference does
    coords = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(2), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + torch.tensor([2, 1])
    index = (rel[..., 0] * 3 + rel[..., 1]).reshape(3, 2, 3, 2)
    program = ncdl.loads(RELATIVE)
    table = torch.randn(15, 2, requires_grad=True)
    got = program.to_torch()(table)
    want = table[index]
    torch.testing.assert_close(got, want)
    weights = torch.randn(want.shape)
    (grad,) = torch.autograd.grad((got * weights).sum(), table)
    (want_grad,) = torch.autograd.grad((want * weights).sum(), table)
    torch.testing.assert_close(grad, want_grad)
    (onnx_got,) = session(program.to_onnx()).run(None, {"table": table.detach().numpy()})
    np.testing.assert_allclose(onnx_got, want.detach().numpy())


def test_gather_by_computed_positions_of_a_free_axis() -> None:
    # a reversal of a free axis: positions of `key` (the same size as seq), flipped, index seq
    program = ncdl.loads(
        "axis batch, seq, key ~ seq, d = 3\n"
        "model M(x: [batch, seq, d]) -> [batch, key, d] { return gather[seq](x, flip[key](positions[key]())) }\n"
    )
    gm, sess = program.to_torch(), session(program.to_onnx())
    for n in (1, 4, 7):
        x = torch.randn(2, n, 3)
        torch.testing.assert_close(gm(x), x.flip(1))
        (got,) = sess.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, x.flip(1).numpy())


def _moe_reference(gm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer token by token: the two best experts' outputs weighted by a softmax over their two logits."""
    sd = gm.state_dict()
    out = []
    for row in x:
        logits = sd["gate.weight"] @ row
        values, chosen = torch.topk(logits, 2)
        weights = torch.softmax(values, 0)
        out.append(
            sum(
                w * (sd["experts.down"][e] @ torch.relu(sd["experts.up"][e] @ row))
                for w, e in zip(weights, chosen, strict=True)
            )
        )
    return torch.stack(out)


@pytest.mark.parametrize("hierarchy", ["flat", "instances"])
def test_moe_runs_each_expert_on_its_routed_rows_only(hierarchy: str) -> None:
    gm = ncdl.loads(MOE).to_torch(hierarchy=hierarchy)
    code = "".join(m.code for m in gm.modules() if isinstance(m, torch.fx.GraphModule))
    assert code.count("_routed_rows(") == 4 and code.count(".index_select(") == 4
    x = _distinct(9, 5, seed=1)
    torch.testing.assert_close(gm(x), _moe_reference(gm, x), rtol=1e-5, atol=1e-5)


def test_moe_routed_equals_dense_with_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    program = ncdl.loads(MOE)
    routed = program.to_torch(hierarchy="flat")
    monkeypatch.setattr(fx_backend, "FX_PASSES", tuple(p for p in FX_PASSES if p is not ROUTE_EXPERTS))
    dense = program.to_torch(hierarchy="flat")
    assert "routed_rows" not in dense.code
    dense.load_state_dict(routed.state_dict())
    x = _distinct(3, 4, 5, seed=2)[0]
    outs, grads = [], []
    for gm in (routed, dense):
        xg = x.clone().requires_grad_()
        y = gm(xg)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        outs.append(y.detach())
        grads.append([xg.grad, *(p.grad for p in gm.parameters())])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_moe_in_onnxruntime_matches_the_routed_torch_module() -> None:
    program = ncdl.loads(MOE)
    gm = program.to_torch()
    model = program.to_onnx(state_dict=gm.state_dict())
    onnx.checker.check_model(model, full_check=True)
    sess = session(model)
    for rows in (1, 11):
        x = _distinct(rows, 5, seed=rows)
        (got,) = sess.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, gm(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def _error(source: str) -> str:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(source, "r.ncd")
    return str(err.value)


def test_argtopk_k_must_fit_the_axis() -> None:
    assert _error("axis b, e = 4, c = 5\nmodel M(x: [b, e]) -> [b, c] { return argtopk[e -> c](x, k=5) }") == (
        "r.ncd:2:60: error[E185]: k=5 is not between 1 and the size of 'e' (4)\n"
        " 2 | model M(x: [b, e]) -> [b, c] { return argtopk[e -> c](x, k=5) }\n"
        "   |                                                            ^"
    )


@pytest.mark.parametrize("box", ["argtopk", "topk"])
def test_top_k_without_k_is_e139(box: str) -> None:
    # a missing k crashed the checker with a TypeError before
    call = f"{box}[e -> c](x)"
    source = f"axis b, e = 4, c = 2\nmodel M(x: [b, e]) -> [b, e] {{ v = {call}\n return x }}"
    assert _error(source) == (
        f"r.ncd:2:36: error[E139]: '{box}' needs option 'k', how many entries to keep\n"
        f" 2 | model M(x: [b, e]) -> [b, e] {{ v = {call}\n"
        f"   |                                    {'^' * len(call)}\n"
        "  help: e.g. k=2"
    )


def test_gather_needs_indices_of_its_axis() -> None:
    source = "axis t, v = 7, w = 3\nmodel M(x: [v], i: int[t] of w) -> [t] { return gather[v](x, i) }"
    assert _error(source) == (
        "r.ncd:2:62: error[E124]: gather needs integers that index 'v', but these index 'w'\n"
        " 2 | model M(x: [v], i: int[t] of w) -> [t] { return gather[v](x, i) }\n"
        "   |                                                              ^\n"
        "  help: the indices must come from a box over 'v' (argtopk[v -> ...]) or an input `of v`"
    )


def test_gather_indices_may_not_carry_the_axis_they_index() -> None:
    source = "axis v = 7\nmodel M(x: [v], i: int[v] of v) -> [v] { return gather[v](x, i) }"
    assert _error(source) == (
        "r.ncd:2:62: error[E186]: the indices carry 'v', the axis they index\n"
        " 2 | model M(x: [v], i: int[v] of v) -> [v] { return gather[v](x, i) }\n"
        "   |                                                              ^\n"
        "  help: rename it first"
    )


def test_moe_gates_may_not_carry_axes_the_values_lack() -> None:
    source = "axis t, e = 2, d = 3\nmodel M(g: [t, e], y: [e, d]) -> [d] { return moe[e](g, y) }"
    assert _error(source) == (
        "r.ncd:2:54: error[E187]: the gates [t, e] carry 't', which the experts' values [e, d] lack\n"
        " 2 | model M(g: [t, e], y: [e, d]) -> [d] { return moe[e](g, y) }\n"
        "   |                                                      ^\n"
        "  help: the gates are [tokens..., expert]; the values [tokens..., expert, features...]"
    )


def test_moe_whose_experts_mix_tokens_stays_dense() -> None:
    source = """
axis tok, model = 5, expert = 3, choice = 1, out = 5
model M(x: [tok, model]) -> [tok, out] {
    logits = linear[model -> expert](x, bias=false) as gate
    w, top = topk[expert -> choice](logits, k=1)
    mixed = softmax[tok](contract[model](x, param[expert, out, model]() as w))
    return moe[expert](scatter[choice -> expert](w, top), mixed)
}
"""
    gm = ncdl.loads(source).to_torch()
    assert "routed_rows" not in gm.code
    x = _distinct(6, 5, seed=4)
    sd = gm.state_dict()
    logits = x @ sd["gate.weight"].T
    gates = torch.zeros_like(logits).scatter(-1, logits.argmax(-1, keepdim=True), logits.amax(-1, keepdim=True))
    mixed = torch.softmax(torch.einsum("tm,enm->ten", x, sd["w"]), dim=0)
    torch.testing.assert_close(gm(x), (gates[:, :, None] * mixed).sum(1), rtol=1e-5, atol=1e-5)


def test_experts_in_their_own_circuit_are_routed_inside_the_moe_s_submodule() -> None:
    program = architectures.load("moe")
    gm, flat = program.to_torch(), program.to_torch(hierarchy="flat")
    flat.load_state_dict(gm.state_dict())
    assert "routed_rows" in gm.code  # lowered in the moe's unit (the root here), not dense
    assert not isinstance(gm.experts, torch.fx.GraphModule)  # the experts' module only holds their weights
    assert [n for n, _ in gm.named_parameters()] == [n for n, _ in flat.named_parameters()]
    x = _distinct(2, 5, 32, seed=3)
    torch.testing.assert_close(gm(x), flat(x), rtol=1e-5, atol=1e-5)

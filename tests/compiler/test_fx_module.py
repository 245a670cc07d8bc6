"""The compiled module as a torch.nn.Module: names, state, training, input checks, code."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from irbuild import IRBuilder, param

import ncdl
from ncdl.compiler.fx import InputShapeError, lower_fx


def _mlp() -> IRBuilder:
    b = IRBuilder("MLP")
    b.axis("batch")
    b.axis("seq", bound=8)
    b.axis("model", 4)
    b.axis("hidden", 16)
    x = b.input("x", ["batch", "seq", "model"])
    h = b.linear(x, ["model"], ["hidden"], scope="blocks.0.mlp.up", name="h")
    h = b.op("gelu", [h], b.axes_of(h), name="h", approximate="none")
    y = b.linear(h, ["hidden"], ["model"], scope="blocks.0.mlp.down", name="y")
    b.output(b.op("add", [x, y], b.axes_of(x), name="y"))
    return b


def test_state_dict_keys_are_the_ir_parameter_names() -> None:
    gm = lower_fx(_mlp().graph())
    assert list(gm.state_dict()) == [
        "blocks.0.mlp.up.weight",
        "blocks.0.mlp.up.bias",
        "blocks.0.mlp.down.weight",
        "blocks.0.mlp.down.bias",
    ]
    assert isinstance(gm.get_submodule("blocks.0.mlp"), torch.nn.Module)


def test_placeholders_are_the_inputs_in_order_and_several_outputs_are_a_tuple() -> None:
    b = IRBuilder()
    b.axis("n", 3)
    a, c = b.input("beta", ["n"]), b.input("alpha", ["n"])
    b.output(b.op("add", [a, c], ["n"], name="total"), name="total")
    b.output(b.op("mul", [a, c], ["n"], name="prod"), name="prod")
    gm = lower_fx(b.graph())
    assert [n.name for n in gm.graph.nodes if n.op == "placeholder"] == ["beta", "alpha"]
    x, y = torch.randn(3), torch.randn(3)
    total, prod = gm(x, y)
    torch.testing.assert_close(total, x + y)
    torch.testing.assert_close(prod, x * y)


def test_code_uses_the_ir_names() -> None:
    code = lower_fx(_mlp().graph()).code
    assert "def forward(self, x):" in code
    assert "h = torch.nn.functional.linear(x, blocks_0_mlp_up_weight, blocks_0_mlp_up_bias)" in code
    assert 'blocks_0_mlp_up_weight = getattr(self.blocks, "0").mlp.up.weight' in code
    assert "_C" not in code


def test_init_follows_the_init_dicts() -> None:
    torch.manual_seed(0)
    gm = lower_fx(_mlp().graph())
    w = gm.get_parameter("blocks.0.mlp.down.weight")
    assert w.abs().max() <= 0.25 and w.std() > 0.05  # uniform(-1/sqrt(16), 1/sqrt(16))
    torch.manual_seed(0)
    again = lower_fx(_mlp().graph())
    for (k, v), (k2, v2) in zip(gm.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_tied_parameters_share_one_tensor() -> None:
    b = IRBuilder()
    b.axis("batch")
    b.axis("vocab", 7)
    b.axis("model", 4)
    t = b.input("tokens", ["batch"], dtype="int64", of="vocab")
    w = param("embed", "weight", ["vocab", "model"], [7, 4], {"kind": "normal", "mean": 0.0, "std": 1.0})
    e = b.op("embed", [t], ["batch", "model"], scope="embed", params=[w], vocab="vocab", out=["model"])
    head = param(
        "head",
        "weight",
        ["vocab", "model"],
        [7, 4],
        {"kind": "normal", "mean": 0.0, "std": 1.0},
        tied_to="embed.weight",
    )
    b.output(
        b.op(
            "linear",
            [e],
            ["batch", "vocab"],
            scope="head",
            params=[head],
            **{"in": ["model"], "out": ["vocab"], "bias": False},
        )
    )
    gm = lower_fx(b.graph())
    assert list(gm.state_dict()) == ["embed.weight", "head.weight"]
    assert gm.get_parameter("head.weight") is gm.get_parameter("embed.weight")
    assert [name for name, _ in gm.named_parameters()] == ["embed.weight"]  # the owner's name
    tokens = torch.tensor([1, 5, 5])
    gm(tokens).sum().backward()
    w = gm.get_parameter("embed.weight").detach().clone().requires_grad_()
    F.linear(F.embedding(tokens, w), w).sum().backward()
    torch.testing.assert_close(gm.get_parameter("embed.weight").grad, w.grad)


def test_optimizer_and_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    gm = lower_fx(_mlp().graph())
    opt = torch.optim.SGD(gm.parameters(), lr=0.1)
    x, target = torch.randn(8, 5, 4), torch.randn(8, 5, 4)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.mse_loss(gm(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    buffer = io.BytesIO()
    torch.save(gm.state_dict(), buffer)
    buffer.seek(0)
    fresh = lower_fx(_mlp().graph())
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh(x), gm(x))


def test_double_precision_and_int32_indices_are_accepted() -> None:
    b = _two_inputs()
    gm = lower_fx(b.graph()).double()
    x = torch.randn(2, 3, 128, dtype=torch.float64)
    torch.testing.assert_close(gm(x, torch.zeros(2, 3, dtype=torch.int32)), x.sum(-1))


def test_bounded_free_axes_run_at_every_size_up_to_the_bound() -> None:
    gm = lower_fx(_mlp().graph())
    for batch, seq in [(1, 1), (3, 8), (5, 2)]:
        assert gm(torch.randn(batch, seq, 4)).shape == (batch, seq, 4)


def _two_inputs() -> IRBuilder:
    b = IRBuilder()
    b.axis("batch")
    b.axis("seq", bound=8)
    b.axis("model", 128)
    b.axis("vocab", 10)
    x = b.input("x", ["batch", "seq", "model"])
    t = b.input("tokens", ["batch", "seq"], dtype="int64", of="vocab")
    b.output(b.op("sum", [x], ["batch", "seq"], axes=["model"]))
    del t
    return b


@pytest.mark.parametrize(
    ("x", "tokens", "message"),
    [
        (torch.randn(2, 3, 96), torch.zeros(2, 3, dtype=torch.long), "`x`: axis model expects 128 at dim 2, got 96"),
        (torch.randn(2, 128), torch.zeros(2, 3, dtype=torch.long), "`x`: expects 3 dims [batch, seq, model], got 2"),
        (torch.randn(2, 9, 128), torch.zeros(2, 9, dtype=torch.long), "`x`: axis seq is at most 8, got 9 at dim 1"),
        (
            torch.randn(2, 3, 128),
            torch.zeros(2, 3),
            "`tokens`: expects an int64 tensor, got torch.float32; convert it with .long()",
        ),
        (
            torch.zeros(2, 3, 128, dtype=torch.long),
            torch.zeros(2, 3, dtype=torch.long),
            "`x`: expects a floating-point tensor, got torch.int64; convert it with .float()",
        ),
        (
            torch.randn(2, 3, 128),
            torch.zeros(4, 3, dtype=torch.long),
            "`tokens`: axis batch is 2 (from `x` dim 0), got 4 at dim 0",
        ),
        ([1.0], torch.zeros(4, 3, dtype=torch.long), "`x`: expects a tensor, got list"),
    ],
)
def test_wrong_inputs_raise_one_line_naming_input_and_axis(x, tokens, message) -> None:
    gm = lower_fx(_two_inputs().graph())
    with pytest.raises(InputShapeError) as err:
        gm(x, tokens)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)


def test_an_int_mask_for_a_bool_input_says_how_to_convert_it() -> None:
    program = ncdl.loads(
        "axis batch, n = 4\nmodel M(x: [batch, n], keep: bool[batch, n]) -> [batch, n] { return where(keep, x, 0) }\n"
    )
    gm = program.to_torch()
    with pytest.raises(InputShapeError) as err:
        gm(torch.randn(2, 4), torch.ones(2, 4, dtype=torch.long))
    assert str(err.value) == "`keep`: expects a bool tensor, got torch.int64; convert it with .bool()"


def test_deepcopy_and_pickling_keep_weights_and_behaviour() -> None:
    b = IRBuilder()
    b.axis("batch")
    b.axis("model", 4)
    x = b.input("x", ["batch", "model"])
    h = b.op("dropout", [b.linear(x, ["model"], ["model"], scope="fc")], ["batch", "model"], p=0.1)
    b.output(h)
    gm = lower_fx(b.graph()).eval()
    x = torch.randn(3, 4)
    buffer = io.BytesIO()
    torch.save(gm, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(gm), torch.load(buffer, weights_only=False)):
        assert list(other.state_dict()) == ["fc.weight", "fc.bias"]
        torch.testing.assert_close(other(x), gm(x))
        with pytest.raises(InputShapeError, match="`x`: axis model expects 4 at dim 1, got 5"):
            other(torch.randn(3, 5))

"""The exported model as a whole: signature, dims, weights, metadata, op choice."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from irbuild import SHA, IRBuilder, param
from onnx_helpers import on_data, op_types, session

import ncdl
from ncdl import architectures
from ncdl.compiler.fx import lower_fx
from ncdl.compiler.onnx import lower_onnx

GPT = """
axis batch, seq <= 16
axis key ~ seq
axis vocab = 13, model = 8, heads = 2, head = model / heads
circuit Attention(q: [seq, head], k: [key, head], v: [key, head]) -> [seq, head] {
    s = contract[head](q, k) / sqrt(head)
    return contract[key](softmax[key](causal[seq, key](s)), v)
}
model GPT(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {
    x = embed[vocab -> model](tokens) + param[seq, model](init=normal(0.02))
    h = rmsnorm[model](x)
    q = linear[model -> heads head](h, bias=false)
    k = rename[seq -> key](linear[model -> heads head](h, bias=false))
    v = rename[seq -> key](linear[model -> heads head](h, bias=false))
    x = x + linear[heads head -> model](Attention(q, k, v))
    return x -> layernorm[model] -> linear[model -> vocab]
}
"""


def dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.fixture(scope="module")
def gpt() -> ncdl.Program:
    return ncdl.loads(GPT, "gpt.ncd")


@pytest.mark.parametrize("opset", [17, 18, 19, 20, 21, 22, 23])
def test_every_opset_passes_the_full_checker_and_runs(gpt: ncdl.Program, opset: int) -> None:
    model = lower_onnx(gpt.graph(), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    (out,) = session(model).run(None, {"tokens": np.zeros((2, 5), np.int64)})
    assert out.shape == (2, 5, 13)


def test_opsets_outside_17_to_23_are_refused(gpt: ncdl.Program) -> None:
    with pytest.raises(ValueError, match="opset 16 is not supported; choose 17 to 23"):
        lower_onnx(gpt.graph(), opset=16)
    with pytest.raises(ValueError, match="opset 24"):
        lower_onnx(gpt.graph(), opset=24)


def test_attention_and_rmsnorm_are_native_at_opset_23_only(gpt: ncdl.Program) -> None:
    ops23 = op_types(lower_onnx(gpt.graph(), opset=23))
    ops17 = op_types(lower_onnx(gpt.graph(), opset=17))
    assert "Attention" in ops23 and "Softmax" not in ops23 and "RMSNormalization" in ops23
    assert "Attention" not in ops17 and "Softmax" in ops17 and "RMSNormalization" not in ops17
    for ops in (ops17, ops23):
        assert "LayerNormalization" in ops and "Einsum" not in ops


def test_opsets_17_and_23_compute_the_same(gpt: ncdl.Program) -> None:
    tokens = np.random.default_rng(0).integers(0, 13, (3, 7)).astype(np.int64)
    a = session(lower_onnx(gpt.graph(), opset=17)).run(None, {"tokens": tokens})[0]
    b = session(lower_onnx(gpt.graph(), opset=23)).run(None, {"tokens": tokens})[0]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_signature_names_order_and_named_dims() -> None:
    n = IRBuilder()
    n.axes("batch", "y", c=3)
    n.axis("seq", bound=8)
    n.axis("key", alias="seq")
    n.axis("y2", (ncdl.ir.sizes.Size.symbol("y") - 3) // 2 + 1)
    b = n.input("second", ["batch", "key", "c"])
    a = n.input("first", ["batch", "seq", "c", "y"])
    pooled = n.op(
        "maxpool", [a], ["batch", "seq", "c", "y2"], spatial=[["y", "y2"]], kernel=[3], stride=[2], padding=[0]
    )
    n.output(pooled, name="pooled")
    n.output(n.op("relu", [b], ["batch", "key", "c"]), name="act", axes=["c", "batch", "key"])
    model = lower_onnx(n.graph())
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["second", "first"]
    assert [o.name for o in model.graph.output] == ["pooled", "act"]
    assert dims(model.graph.input[0]) == ["batch", "seq", 3]
    assert dims(model.graph.input[1]) == ["batch", "seq", 3, "y"]
    assert dims(model.graph.output[0]) == ["batch", "seq", 3, "floor((y + -3)/2) + 1"]
    assert dims(model.graph.output[1]) == [3, "batch", "seq"]
    outs = session(model).run(
        None, {"second": np.ones((2, 4, 3), np.float32), "first": np.ones((2, 4, 3, 9), np.float32)}
    )
    assert [o.shape for o in outs] == [(2, 4, 3, 4), (3, 2, 4)]


def test_weights_are_initializers_named_by_parameter(gpt: ncdl.Program) -> None:
    model = lower_onnx(gpt.graph())
    names = {t.name for t in model.graph.initializer}
    assert names == {p["name"] for p in ncdl.ir.all_params(gpt.graph())}
    assert "embed.weight" in names


def test_fx_state_dict_round_trips_by_name(gpt: ncdl.Program) -> None:
    state = {k: v.detach().clone() for k, v in lower_fx(gpt.graph()).state_dict().items()}
    model = lower_onnx(gpt.graph(), state_dict=state)
    for tensor in model.graph.initializer:
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(tensor), state[tensor.name].numpy())


def test_bfloat16_weights_are_exported_as_float32(gpt: ncdl.Program) -> None:
    state = {k: v.to(torch.bfloat16) for k, v in lower_fx(gpt.graph()).state_dict().items()}
    model = lower_onnx(gpt.graph(), state_dict=state)
    onnx.checker.check_model(model, full_check=True)
    for tensor in model.graph.initializer:
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(tensor), state[tensor.name].float().numpy())


def test_tied_parameters_share_one_initializer() -> None:
    n = IRBuilder()
    n.axes("batch", vocab=7, model=4)
    tokens = n.input("tokens", ["batch"], dtype="int64")
    emb_w = param("emb", "weight", ["vocab", "model"], [7, 4], {"kind": "normal", "mean": 0.0, "std": 1.0})
    x = n.op("embed", [tokens], ["batch", "model"], scope="emb", params=[emb_w], vocab="vocab", out=["model"])
    tied = param("head", "weight", ["vocab", "model"], [7, 4], tied_to="emb.weight")
    logits = n.op(
        "linear",
        [x],
        ["batch", "vocab"],
        scope="head",
        params=[tied],
        **{"in": ["model"], "out": ["vocab"], "bias": False},
    )
    n.output(logits)
    model = lower_onnx(n.graph())
    onnx.checker.check_model(model, full_check=True)
    assert [t.name for t in model.graph.initializer] == ["emb.weight"]
    uses = [i for node in model.graph.node for i in node.input if i == "emb.weight"]
    assert len(uses) == 2
    w = onnx.numpy_helper.to_array(model.graph.initializer[0])
    out = session(model).run(None, {"tokens": np.array([1, 5], np.int64)})[0]
    np.testing.assert_allclose(out, w[[1, 5]] @ w.T, atol=1e-5)


def test_fresh_weights_follow_each_init_and_the_seed() -> None:
    n = IRBuilder()
    n.axes("batch", a=64, b=32)
    x = n.input("x", ["batch", "a"])
    params = [
        param("u", "weight", ["b", "a"], [32, 64], {"kind": "uniform", "low": -0.125, "high": 0.125}),
        param("u", "bias", ["b"], [32], {"kind": "ones"}),
    ]
    h = n.op("linear", [x], ["batch", "b"], scope="u", params=params, **{"in": ["a"], "out": ["b"], "bias": True})
    p = n.op(
        "param",
        [],
        ["b"],
        scope="p",
        params=[param("p", "weight", ["b"], [32], {"kind": "normal", "mean": 3.0, "std": 0.01})],
    )
    n.output(n.op("add", [h, p], ["batch", "b"], const=None, const_left=False))
    g = n.graph()

    def weights(seed: int) -> dict[str, np.ndarray]:
        return {t.name: onnx.numpy_helper.to_array(t) for t in lower_onnx(g, seed=seed).graph.initializer}

    w = weights(0)
    assert w["u.weight"].dtype == np.float32 and w["u.weight"].shape == (32, 64)
    assert -0.125 <= w["u.weight"].min() < -0.1 and 0.1 < w["u.weight"].max() <= 0.125
    np.testing.assert_array_equal(w["u.bias"], np.ones(32, np.float32))
    assert abs(w["p.weight"].mean() - 3.0) < 0.01 and w["p.weight"].std() < 0.02
    np.testing.assert_array_equal(weights(0)["u.weight"], w["u.weight"])
    assert not np.array_equal(weights(1)["u.weight"], w["u.weight"])


def test_state_dict_mistakes_name_the_parameter(gpt: ncdl.Program) -> None:
    state = {k: v for k, v in lower_fx(gpt.graph()).state_dict().items()}
    bias = next(p["name"] for p in ncdl.ir.all_params(gpt.graph()) if p["shape"] == [13])
    missing = {k: v for k, v in state.items() if k != bias}
    with pytest.raises(ValueError, match=rf"state_dict has no entry `{bias}` \(the model needs shape \[13\]\)"):
        lower_onnx(gpt.graph(), state_dict=missing)
    wrong = {**state, bias: torch.zeros(12)}
    with pytest.raises(ValueError, match=rf"state_dict entry `{bias}` has shape \[12\], the model needs \[13\]"):
        lower_onnx(gpt.graph(), state_dict=wrong)


def test_an_entry_the_model_lacks_is_refused_as_strict_load_state_dict_does(gpt: ncdl.Program) -> None:
    state = {**lower_fx(gpt.graph()).state_dict(), "lm_head.bias": torch.zeros(13)}
    with pytest.raises(ValueError) as err:
        lower_onnx(gpt.graph(), state_dict=state)
    assert str(err.value) == (
        "state_dict entry `lm_head.bias` is not a parameter or buffer of the model "
        "(the names and shapes the model needs are those `ncdl check` lists)"
    )


def test_every_problem_is_listed_in_one_message(gpt: ncdl.Program) -> None:
    state = lower_fx(gpt.graph()).state_dict()
    names = [p["name"] for p in ncdl.ir.all_params(gpt.graph())]
    broken = {k: v for k, v in state.items() if k != names[0]} | {names[1]: torch.zeros(3), "extra": torch.zeros(1)}
    with pytest.raises(ValueError) as err:
        lower_onnx(gpt.graph(), state_dict=broken)
    need = [list(p["shape"]) for p in ncdl.ir.all_params(gpt.graph())]
    assert str(err.value) == (
        "3 problems with the state_dict (the names and shapes the model needs are those `ncdl check` lists):\n"
        f"  state_dict has no entry `{names[0]}` (the model needs shape {need[0]})\n"
        f"  state_dict entry `{names[1]}` has shape [3], the model needs {need[1]}\n"
        "  state_dict entry `extra` is not a parameter or buffer of the model"
    )


def test_a_checkpoint_under_a_prefix_is_named_with_the_fix(gpt: ncdl.Program) -> None:
    state = {f"model.{k}": v for k, v in lower_fx(gpt.graph()).state_dict().items()}
    with pytest.raises(ValueError) as err:
        lower_onnx(gpt.graph(), state_dict=state)
    first = str(err.value).splitlines()[0]
    count = 2 * len(state)
    assert first == (
        f"{count} problems with the state_dict (its entries carry the prefix `model.`: keep those and strip it, "
        "{k.removeprefix('model.'): v for k, v in state_dict.items() if k.startswith('model.')}):"
    )
    assert str(err.value).endswith(f"... and {count - 8} more")
    fixed = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    assert len(lower_onnx(gpt.graph(), state_dict=fixed).graph.initializer) == len(state)


def test_a_tied_weight_may_be_absent_or_present() -> None:
    g = architectures.load("gpt").graph("GPT", vocab=16, model=8, heads=2)
    state = lower_fx(g).state_dict()
    assert "lm_head.weight" in state  # torch.nn lists the shared tensor under both names
    without = {k: v for k, v in state.items() if k != "lm_head.weight"}  # as safetensors files keep it
    for entries in (state, without):
        arrays = {t.name: onnx.numpy_helper.to_array(t) for t in lower_onnx(g, state_dict=entries).graph.initializer}
        np.testing.assert_array_equal(arrays["transformer.wte.weight"], state["transformer.wte.weight"].numpy())


def test_metadata_carries_source_axes_and_parameters(gpt: ncdl.Program) -> None:
    model = lower_onnx(gpt.graph())
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["ncdl.source_sha256"] == gpt.sha256
    assert meta["ncdl.source_file"] == "gpt.ncd"
    assert meta["ncdl.model"] == "GPT"
    assert gpt.sha256 in model.doc_string and "GPT" in model.doc_string
    axes = json.loads(meta["ncdl.axes"])
    assert axes["seq"] == {"size": "seq", "fixed": None, "bound": 16}
    assert axes["key"] == {"size": "seq", "fixed": None, "bound": 16}
    assert axes["head"] == {"size": "4", "fixed": 4, "bound": None}
    assert json.loads(meta["ncdl.parameters"]) == [p["name"] for p in ncdl.ir.all_params(gpt.graph())]
    assert json.loads(meta["ncdl.inputs"]) == [{"name": "tokens", "axes": ["batch", "seq"], "dtype": "int64"}]
    assert model.producer_name == "ncdl" and model.graph.name == "GPT"


def test_hand_built_graph_metadata_uses_its_source() -> None:
    n = IRBuilder()
    n.axes(d=2)
    n.output(n.op("relu", [n.input("x", ["d"])], ["d"]))
    meta = {p.key: p.value for p in lower_onnx(n.graph()).metadata_props}
    assert meta["ncdl.source_sha256"] == SHA


def test_fixed_sizes_need_no_shape_arithmetic() -> None:
    program = ncdl.loads(
        """
axis batch = 2, seq = 5, key = 5, model = 8, heads = 2, head = 4
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    q = linear[model -> heads head](x)
    k = rename[seq -> key](linear[model -> heads head](x))
    s = softmax[key](causal[seq, key](contract[head](q, k)))
    return linear[heads head -> model](contract[key](s, rename[seq -> key](linear[model -> heads head](x))))
}"""
    )
    for opset in (17, 23):
        ops = op_types(lower_onnx(program.graph(), opset=opset))
        assert "Shape" not in ops and "Concat" not in ops


def test_linear_on_the_trailing_axis_moves_no_data() -> None:
    program = ncdl.loads(
        """
axis batch, seq, model = 8, hidden = 32
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    return x -> linear[model -> hidden] -> gelu -> linear[hidden -> model]
}"""
    )
    model = lower_onnx(program.graph())
    assert on_data(model, "Transpose") == [] and on_data(model, "Reshape") == []
    assert "Shape" not in op_types(model)


def test_attention_after_linear_moves_no_data_at_opset_23(gpt: ncdl.Program) -> None:
    model = lower_onnx(gpt.graph(), opset=23)
    assert on_data(model, "Transpose") == [] and on_data(model, "Reshape") == []


def test_fresh_weights_are_drawn_into_their_own_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    # never a float64 copy of a float32 weight: chunks are stored as they are drawn, same numbers as one draw
    from ncdl.compiler.onnx import weights

    monkeypatch.setattr(weights, "CHUNK", 7)
    for init, draw in (
        ({"kind": "normal", "std": 0.02}, lambda r: r.normal(0.0, 0.02, size=(5, 9))),
        ({"kind": "uniform", "low": -1.0, "high": 1.0}, lambda r: r.uniform(-1.0, 1.0, size=(5, 9))),
    ):
        got = weights.fresh(init, (5, 9), np.random.default_rng(3), "float32")
        assert got.dtype == np.float32
        assert np.array_equal(got, draw(np.random.default_rng(3)).astype(np.float32))
    assert (
        weights.fresh({"kind": "constant", "value": 2.0}, (3,), np.random.default_rng(0), "float32").dtype == np.float32
    )

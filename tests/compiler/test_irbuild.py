"""The one IR builder of the backend tests (irbuild.py) builds graphs that verify and say what it was told."""

from __future__ import annotations

import pytest
from irbuild import SHA, IRBuilder, param

from ncdl.ir import IRError, all_params
from ncdl.ir.sizes import Size


def test_axes_free_sized_alias_and_stored_sizes() -> None:
    b = IRBuilder()
    b.axes("batch", model=8)
    b.axis("seq", bound=16)
    b.axis("key", alias="seq")
    b.axis("double", Size.of(8) * 2)
    table = b.g.graph["axes"]
    assert table["batch"].size == Size.symbol("batch") and table["batch"].fixed is None
    assert table["key"].size == table["seq"].size and table["key"].bound == 16
    assert [b.stored(a) for a in ("model", "seq", "double")] == [8, 16, 16]


def test_inputs_bind_free_axes_and_outputs_keep_dtype() -> None:
    b = IRBuilder("Tiny")
    b.axes("batch", "seq", vocab=5)
    tokens = b.input("tokens", ["batch", "seq"], dtype="int64", of="vocab")
    other = b.input("other", ["seq", "batch"])
    b.output(tokens, name="same")
    b.output(other, ["batch", "seq"], name="moved")
    g = b.graph()
    assert g.graph["model"] == "Tiny"
    assert g.graph["source"] == {"file": "test.ncd", "sha256": SHA}
    assert g.graph["bindings"] == {"batch": [tokens, 0], "seq": [tokens, 1]}
    outs = [g.nodes[n] for n in g.graph["outputs"]]
    assert [(o["attrs"]["name"], o["dtype"], o["axes"]) for o in outs] == [
        ("same", "int64", ["batch", "seq"]),
        ("moved", "float32", ["batch", "seq"]),
    ]


def test_op_fills_registry_defaults_and_names_the_node() -> None:
    b = IRBuilder()
    b.axes("batch", model=4)
    x = b.input("x", ["batch", "model"])
    y = b.op("layernorm", [x], b.axes_of(x), axes=["model"])
    b.output(y)
    data = b.graph().nodes[y]
    assert data["name"] == "layernorm"
    assert data["attrs"] == {"axes": ["model"], "eps": 1e-5, "affine": True, "bias": True}


def test_linear_makes_torch_shaped_params_with_uniform_init() -> None:
    b = IRBuilder()
    b.axes("batch", model=4, hidden=9)
    y = b.linear(b.input("x", ["batch", "model"]), ["model"], ["hidden"], scope="fc")
    b.output(y)
    g = b.graph()
    assert g.nodes[y]["axes"] == ["batch", "hidden"]
    weight, bias = all_params(g)
    assert (weight["name"], weight["shape"], bias["name"], bias["shape"]) == ("fc.weight", [9, 4], "fc.bias", [9])
    assert weight["init"] == {"kind": "uniform", "low": -0.5, "high": 0.5}


def test_param_default_init_is_uniform_over_fan_in() -> None:
    p = param("conv", "weight", ["out", "in", "<k>"], [3, 2, 8])
    assert p["name"] == "conv.weight" and p["tied_to"] is None
    assert p["init"] == {"kind": "uniform", "low": -0.25, "high": 0.25}
    assert param("", "pos", ["seq"], [4], {"kind": "zeros"})["name"] == "pos"


def test_graph_verifies() -> None:
    b = IRBuilder()
    b.axes(model=4)
    x = b.input("x", ["model"])
    b.output(b.op("softmax", [x], ["model"], axis="nope"))
    with pytest.raises(IRError, match="not an axis of the model"):
        b.graph()

"""Signatures beyond one tensor in, one out: several results, float and bool
parameters with defaults, optional tensor arguments."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ncdl
from ncdl import ir

HEAD = "axis batch, seq, key ~ seq\naxis model = 4\n"

SEVERAL = (
    HEAD
    + """
circuit Stats(x: [seq, model]) -> (mean: [model], top: [model]) {
    return mean[seq](x), max[seq](x)
}
model M(x: [batch, seq, model]) -> (hidden: [batch, seq, model], pooled: [batch, model]) {
    m, t = Stats(x)
    return relu(x), m + t
}
"""
)


def test_several_results_come_back_as_a_tuple_in_declared_order() -> None:
    program = ncdl.loads(SEVERAL)
    g = program.graph()
    assert [g.nodes[n]["attrs"]["name"] for n in g.graph["outputs"]] == ["hidden", "pooled"]
    x = torch.randn(2, 5, 4)
    hidden, pooled = program.to_torch()(x)
    torch.testing.assert_close(hidden, torch.relu(x))
    torch.testing.assert_close(pooled, x.mean(1) + x.amax(1))
    assert [o.name for o in program.to_onnx().graph.output] == ["hidden", "pooled"]


def test_unnamed_results_are_numbered_and_one_named_result_keeps_its_name() -> None:
    numbered = ncdl.loads(HEAD + "model M(x: [batch, model]) -> ([batch, model], [batch, model]) { return x, -x }")
    g = numbered.graph()
    assert [g.nodes[n]["attrs"]["name"] for n in g.graph["outputs"]] == ["output_0", "output_1"]
    named = ncdl.loads(HEAD + "model M(x: [batch, model]) -> (logits: [batch, model]) { return relu(x) }")
    assert [o.name for o in named.to_onnx().graph.output] == ["logits"]
    assert isinstance(named.to_torch()(torch.randn(2, 4)), torch.Tensor)


def test_a_circuit_may_return_another_circuits_results_unchanged() -> None:
    source = SEVERAL.replace("m, t = Stats(x)", "m, t = Outer(x)") + (
        "circuit Outer(x: [seq, model]) -> ([model], [model]) { return Stats(x) }\n"
    )
    hidden, pooled = ncdl.loads(source).to_torch()(x := torch.randn(1, 3, 4))
    torch.testing.assert_close(pooled, x.mean(1) + x.amax(1))


NORM = (
    HEAD
    + """
circuit Norm[c, eps: float = 1e-5, bias: bool = true, scale: float = 1](x: [c]) -> [c] {
    if bias { y = layernorm[c](x, eps=eps) } else { y = layernorm[c](x, eps=eps, bias=bias) }
    return y * scale
}
model M(x: [batch, model]) -> [batch, model] {
    return Norm[model, eps=0.5, bias=false, scale=3](x) + Norm[model](x)
}
"""
)


def test_float_and_bool_parameters_take_defaults_or_keywords() -> None:
    program = ncdl.loads(NORM)
    g = program.graph()
    norms = [g.nodes[n]["attrs"] for n in ir.topological(g) if g.nodes[n]["op"] == "layernorm"]
    assert [(a["eps"], a["bias"]) for a in norms] == [(0.5, False), (1e-5, True)]
    gm = program.to_torch()
    assert sorted(gm.state_dict()) == ["norm.y.weight", "norm_1.y.bias", "norm_1.y.weight"]
    x = torch.randn(3, 4)
    want = 3 * F.layer_norm(x, (4,), eps=0.5) + F.layer_norm(x, (4,))
    torch.testing.assert_close(gm(x), want)


def test_model_float_parameters_and_inherited_values() -> None:
    source = HEAD + (
        "circuit Scale[gain: float](x: [model]) -> [model] { return x * gain }\n"
        "model M[gain: float = 0.25](x: [batch, model]) -> [batch, model] { return Scale(x) }\n"
    )
    x = torch.randn(2, 4)
    torch.testing.assert_close(ncdl.loads(source).to_torch()(x), x * 0.25)


MASKED = (
    HEAD
    + """
circuit Scores(q: [seq, model], k: [key, model], mask: [seq, key]?, bias: [seq, key]?) -> [seq, key] {
    s = contract[model](q, k)
    if mask { s = s + mask }
    if bias and not mask { s = s - bias }
    return softmax[key](s)
}
model M(x: [batch, seq, model], m: [batch, seq, key]) -> (a: [batch, seq, key], b: [batch, seq, key], c: [batch, seq, key]) {
    k = rename[seq -> key](x)
    return Scores(x, k, m), Scores(x, k), Scores(x, k, bias=m)
}
"""
)


def test_optional_arguments_given_by_position_by_name_or_left_out() -> None:
    x, m = torch.randn(2, 3, 4), torch.randn(2, 3, 3)
    a, b, c = ncdl.loads(MASKED).to_torch()(x, m)
    s = x @ x.transpose(1, 2)
    torch.testing.assert_close(a, torch.softmax(s + m, -1))
    torch.testing.assert_close(b, torch.softmax(s, -1))
    torch.testing.assert_close(c, torch.softmax(s - m, -1))


def test_the_printed_signature_names_the_results() -> None:
    from ncdl.report import signature

    assert signature(ncdl.loads(SEVERAL).graph()).endswith("-> (hidden: [batch, seq, model], pooled: [batch, model])")
    numbered = ncdl.loads(HEAD + "model M(x: [batch, model]) -> ([batch, model], [model]) { return x, sum[batch](x) }")
    assert signature(numbered.graph()).endswith("-> ([batch, model], [model])")
    assert signature(ncdl.loads(HEAD + "model M(x: [model]) -> [model] { return x }").graph()).endswith("-> [model]")


def test_a_repeated_call_with_several_results_is_the_iteration() -> None:
    source = HEAD + (
        "circuit Step(a: [model], b: [model]) -> ([model], [model]) { return a + linear[model -> model](b), relu(b) }\n"
        "model M(x: [batch, model]) -> [batch, model] {\n"
        "    a = x\n    b = x\n    repeat 2 as layer { a, b = Step(a, b) }\n    return a + b\n}\n"
    )
    gm = ncdl.loads(source).to_torch()
    assert list(gm.state_dict()) == [
        "layer.0.linear.weight",
        "layer.0.linear.bias",
        "layer.1.linear.weight",
        "layer.1.linear.bias",
    ]
    x = torch.randn(3, 4)
    l0, l1 = gm.get_submodule("layer.0.linear"), gm.get_submodule("layer.1.linear")
    b1 = torch.relu(x)
    a2 = x + F.linear(x, l0.weight, l0.bias) + F.linear(b1, l1.weight, l1.bias)
    torch.testing.assert_close(gm(x), a2 + torch.relu(b1))

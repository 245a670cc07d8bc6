"""Language features beyond the reference programs: fresh axis bindings,
repeat indices, symbolic sizes through circuits, imports, ties."""

from __future__ import annotations

import pytest

import ncdl
from ncdl import ir
from ncdl.ir.sizes import Size

PYRAMID = """
axis batch, y, x
axis c = 4, d = 8
circuit Down[c, d, y, x, y2, x2](v: [c, y, x]) -> [d, y2, x2] {
    return conv[c -> d, y -> y2, x -> x2](v, kernel=3, stride=2, padding=1)
}
circuit Same[d, y, x](v: [d, y, x]) -> [d, y, x] { return relu(conv[d -> d, y, x](v, kernel=3, padding=1)) }
model P(img: [batch, c, y, x]) -> [batch, d, yb, xb] {
    h = Down[c, d, y, x, ya, xa](img) as stem
    repeat i in 3 as layer1 {
        if i == 0 { h = Down[d, d, ya, xa, yb, xb](h) } else { h = Same[d, yb, xb](h) }
    }
    return h
}
"""


def test_fresh_axis_names_carry_symbolic_sizes() -> None:
    g = ncdl.loads(PYRAMID).graph()
    axes = g.graph["axes"]
    y = Size.symbol("y")
    assert axes["ya"].size == (y - 1) // 2 + 1
    assert axes["yb"].size == ((y - 1) // 2 + 1 - 1) // 2 + 1
    assert axes["yb"].size.evaluate({"y": 37}) == 10


def test_repeat_index_and_solo_iterations_name_like_torchvision() -> None:
    g = ncdl.loads(PYRAMID).graph()
    names = [p["name"] for p in ir.all_params(g)]
    assert names == [
        "stem.conv.weight", "stem.conv.bias",
        "layer1.0.conv.weight", "layer1.0.conv.bias",
        "layer1.1.conv.weight", "layer1.1.conv.bias",
        "layer1.2.conv.weight", "layer1.2.conv.bias",
    ]  # fmt: skip


def test_nested_floor_division_normalises() -> None:
    y = Size.symbol("y")
    assert ((y - 1) // 2) // 2 == (y - 1) // 4
    assert (y * 4) // 2 == y * 2


def test_unbuildable_fresh_axis_is_reported() -> None:
    source = """
axis n = 4
circuit F[n, m](x: [n]) -> [n] { return x }
model M(x: [n]) -> [n] { return F[n, fresh](x) }
"""
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert info.value.diagnostics[0].message == "'F' never creates axis 'm', so 'fresh' gets no size"


def test_integer_parameters_bind_by_name() -> None:
    source = """
axis n = 4
circuit Inner[k: int](x: [n]) -> [n] { return x * k }
circuit Outer[k: int](x: [n]) -> [n] { return Inner(x) }
model M(x: [n]) -> [n] { return Outer[k=3](x) }
"""
    g = ncdl.loads(source).graph()
    muls = [g.nodes[n]["attrs"]["const"] for n in g if g.nodes[n]["op"] == "mul"]
    assert muls == [3.0]


def test_use_imports_bundled_circuits(tmp_path) -> None:
    (tmp_path / "lib.ncd").write_text("circuit Twice[n](x: [n]) -> [n] { return x + x }\n")
    (tmp_path / "main.ncd").write_text('use "lib.ncd"\naxis n = 3\nmodel M(x: [n]) -> [n] { return Twice(x) }\n')
    assert ncdl.load(tmp_path / "main.ncd").models == ["M"]


def test_use_outside_the_project_is_refused(tmp_path) -> None:
    outside = tmp_path / "outside"
    project = tmp_path / "project"
    outside.mkdir()
    project.mkdir()
    (outside / "lib.ncd").write_text("circuit Twice[n](x: [n]) -> [n] { return x + x }\n")
    main = project / "main.ncd"
    main.write_text('use "../outside/lib.ncd"\naxis n = 3\nmodel M(x: [n]) -> [n] { return Twice(x) }\n')
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(main)
    assert info.value.diagnostics[0].code == "E171"
    assert ncdl.load(main, allow_paths=(str(outside),)).models == ["M"]


def test_ir_json_round_trip() -> None:
    g = ncdl.loads(PYRAMID).graph()
    back = ir.from_json(ir.to_json(g))
    assert ir.dumps(back) == ir.dumps(g)
    ir.verify(back)
    assert back.graph["axes"]["yb"].size == g.graph["axes"]["yb"].size


def test_tied_weights_count_once() -> None:
    source = """
axis b, vocab = 10, model = 4
model T(t: int[b] of vocab) -> [b, vocab] {
    return linear[model -> vocab](embed[vocab -> model](t) as tok, bias=false, tie=tok)
}
"""
    g = ncdl.loads(source).graph()
    assert ir.param_count(g) == 40


def test_axes_named_like_keywords_may_follow_other_axes_in_a_group() -> None:
    source = """
axis batch
axis model = 4, heads = 2, axis = 3, circuit = 2, use = 4
model M(x: [batch, model]) -> [batch, heads, model, axis, circuit, use] {
    return linear[model -> heads model axis circuit use](rename[model -> use](x) -> linear[use -> model])
}
"""
    g = ncdl.loads(source).graph()
    linear = [g.nodes[n] for n in g if g.nodes[n]["op"] == "linear"][-1]
    assert linear["attrs"]["out"] == ["heads", "model", "axis", "circuit", "use"]


def test_a_callers_axis_name_reaches_through_two_circuit_levels() -> None:
    source = """
axis batch, y, x
axis c = 4
circuit Down[c, y, x, y2, x2](v: [c, y, x]) -> [c, y2, x2] {
    return conv[c -> c, y -> y2, x -> x2](v, kernel=3, stride=2, padding=1)
}
circuit Block[c, y, x, y2, x2](v: [c, y, x]) -> [c, y2, x2] { return relu(Down[c, y, x, y2, x2](v)) }
circuit Stage[c, y, x, y2, x2](v: [c, y, x]) -> [c, y2, x2] { return Block[c, y, x, y2, x2](v) }
model P(img: [batch, c, y, x]) -> [batch, c, yo, xo] { return Stage[c, y, x, yo, xo](img) }
"""
    g = ncdl.loads(source).graph()
    assert g.graph["axes"]["yo"].size == (Size.symbol("y") - 1) // 2 + 1
    assert g.nodes[g.graph["outputs"][0]]["axes"] == ["batch", "c", "yo", "xo"]


def test_norms_without_weight_act_on_free_axes() -> None:
    import torch
    import torch.nn.functional as F

    source = """
axis batch, seq
axis model = 3
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    return layernorm[seq](x, affine=false) + rmsnorm[seq](x, affine=false, eps=1e-3)
}
"""
    gm = ncdl.loads(source).to_torch()
    assert list(gm.state_dict()) == []
    x = torch.randn(2, 7, 3)
    xt = x.transpose(1, 2)
    want = F.layer_norm(xt, (7,)) + F.rms_norm(xt, (7,), eps=1e-3)
    torch.testing.assert_close(gm(x), want.transpose(1, 2))

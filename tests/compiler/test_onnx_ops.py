"""Every IR op lowered to ONNX, run in onnxruntime, against a hand-written torch reference.

Each test builds a small IR, exports it at opset 17 and 23 (checked with
``onnx.checker.check_model(full_check=True)``), runs it at two sizes of its
free axes and compares with torch within 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from irbuild import IRBuilder, param
from onnx_helpers import export_run, random_weights
from value_cases import CASES, LAYOUT, layout_builder
from value_cases import builder as value_builder

from ncdl.ir.sizes import Size

TOL = 1e-4
rng = np.random.default_rng(0)


@pytest.fixture(params=[17, 23])
def opset(request: pytest.FixtureRequest) -> int:
    return request.param


def rand(*shape: int, positive: bool = False) -> np.ndarray:
    a = rng.standard_normal(shape).astype(np.float32)
    return np.abs(a) + 0.1 if positive else a


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a))


def close(got: np.ndarray, want: torch.Tensor) -> None:
    want_np = want.detach().numpy()
    assert got.shape == want_np.shape, (got.shape, want_np.shape)
    np.testing.assert_allclose(got, want_np, atol=TOL, rtol=TOL)


# learned ----------------------------------------------------------------------------
def test_linear_over_grouped_non_adjacent_axes(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", heads=2, head=3, model=5, k=2)
    x = n.input("x", ["batch", "heads", "seq", "head"])
    params = [
        param("o", "weight", ["model", "k", "heads", "head"], [5, 2, 2, 3]),
        param("o", "bias", ["model", "k"], [5, 2]),
    ]
    y = n.op(
        "linear",
        [x],
        ["batch", "seq", "model", "k"],
        scope="o",
        params=params,
        **{"in": ["heads", "head"], "out": ["model", "k"], "bias": True},
    )
    n.output(y)
    g = n.graph()
    w = random_weights(g)
    for b, s in ((2, 3), (1, 7)):
        xv = rand(b, 2, s, 3)
        ref = torch.einsum("bhsd,mkhd->bsmk", t(xv), t(w["o.weight"])) + t(w["o.bias"])
        close(export_run(g, {"x": xv}, opset, w)["y"], ref)


def test_linear_on_a_matrix_uses_gemm_without_bias(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", model=4, hidden=6)
    x = n.input("x", ["model", "batch"])
    y = n.op(
        "linear",
        [x],
        ["batch", "hidden"],
        scope="fc",
        params=[param("fc", "weight", ["hidden", "model"], [6, 4])],
        **{"in": ["model"], "out": ["hidden"], "bias": False},
    )
    n.output(y)
    g = n.graph()
    w = random_weights(g)
    xv = rand(4, 3)
    close(export_run(g, {"x": xv}, opset, w)["y"], t(xv).T @ t(w["fc.weight"]).T)


def test_embed_gathers_rows(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", vocab=11, model=4)
    x = n.input("tokens", ["batch", "seq"], dtype="int64")
    params = [param("emb", "weight", ["vocab", "model"], [11, 4], {"kind": "normal", "mean": 0.0, "std": 1.0})]
    y = n.op("embed", [x], ["batch", "seq", "model"], scope="emb", params=params, vocab="vocab", out=["model"])
    n.output(y)
    g = n.graph()
    w = random_weights(g)
    for shape in ((2, 5), (3, 1)):
        idx = rng.integers(0, 11, shape).astype(np.int64)
        close(export_run(g, {"tokens": idx}, opset, w)["y"], F.embedding(t(idx), t(w["emb.weight"])))


def test_param_is_sliced_to_the_run_time_size_of_a_bounded_axis(opset: int) -> None:
    n = IRBuilder()
    n.axis("seq", bound=16)
    n.axes(model=4)
    x = n.input("x", ["seq", "model"])
    p = n.op("param", [], ["seq", "model"], scope="pos", params=[param("pos", "weight", ["seq", "model"], [16, 4])])
    n.output(n.op("add", [x, p], ["seq", "model"]))
    g = n.graph()
    w = random_weights(g)
    for s in (5, 16):
        xv = rand(s, 4)
        close(export_run(g, {"x": xv}, opset, w)["y"], t(xv) + t(w["pos.weight"])[:s])


@pytest.mark.parametrize("layout", [["batch", "seq", "model"], ["batch", "model", "seq"]])
def test_layernorm(opset: int, layout: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", model=6)
    x = n.input("x", layout)
    params = [param("ln", "weight", ["model"], [6]), param("ln", "bias", ["model"], [6])]
    n.output(
        n.op("layernorm", [x], layout, scope="ln", params=params, axes=["model"], eps=1e-5, affine=True, bias=True)
    )
    g = n.graph()
    w = random_weights(g)
    for b, s in ((2, 3), (3, 5)):
        xv = rand(*[{"batch": b, "seq": s, "model": 6}[a] for a in layout])
        xt = t(xv) if layout[-1] == "model" else t(xv).transpose(1, 2)
        ref = F.layer_norm(xt, [6], t(w["ln.weight"]), t(w["ln.bias"]), 1e-5)
        close(export_run(g, {"x": xv}, opset, w)["y"], ref if layout[-1] == "model" else ref.transpose(1, 2))


def test_layernorm_over_two_axes_without_affine(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", a=3, b=4)
    x = n.input("x", ["batch", "b", "a"])
    n.output(n.op("layernorm", [x], ["batch", "b", "a"], axes=["a", "b"], eps=1e-5, affine=False, bias=False))
    g = n.graph()
    xv = rand(2, 4, 3)
    close(export_run(g, {"x": xv}, opset)["y"], F.layer_norm(t(xv), [4, 3], eps=1e-5))


def test_layernorm_weight_follows_its_own_axis_order(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", a=3, b=4)
    x = n.input("x", ["batch", "b", "a"])
    params = [param("ln", "weight", ["a", "b"], [3, 4]), param("ln", "bias", ["a", "b"], [3, 4])]
    n.output(
        n.op(
            "layernorm",
            [x],
            ["batch", "b", "a"],
            scope="ln",
            params=params,
            axes=["a", "b"],
            eps=1e-5,
            affine=True,
            bias=True,
        )
    )
    g = n.graph()
    w = random_weights(g)
    xv = rand(2, 4, 3)
    ref = F.layer_norm(t(xv), [4, 3], t(w["ln.weight"]).T, t(w["ln.bias"]).T, 1e-5)
    close(export_run(g, {"x": xv}, opset, w)["y"], ref)


@pytest.mark.parametrize("layout", [["batch", "model"], ["model", "batch"]])
def test_rmsnorm(opset: int, layout: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", model=6)
    x = n.input("x", layout)
    n.output(
        n.op(
            "rmsnorm",
            [x],
            layout,
            scope="rn",
            params=[param("rn", "weight", ["model"], [6])],
            axes=["model"],
            eps=1e-6,
            affine=True,
        )
    )
    g = n.graph()
    w = random_weights(g)
    xv = rand(*[{"batch": 3, "model": 6}[a] for a in layout])
    xt = t(xv) if layout[-1] == "model" else t(xv).T
    ref = F.rms_norm(xt, [6], t(w["rn.weight"]), 1e-6)
    close(export_run(g, {"x": xv}, opset, w)["y"], ref if layout[-1] == "model" else ref.T)


def batchnorm_specs(scope: str, c: str, size: int) -> tuple[list[dict], list[dict]]:
    params = [
        param(scope, "weight", [c], [size], {"kind": "ones"}),
        param(scope, "bias", [c], [size], {"kind": "zeros"}),
    ]
    buffers = [
        param(scope, "running_mean", [c], [size], {"kind": "zeros"}),
        param(scope, "running_var", [c], [size], {"kind": "ones"}),
        {**param(scope, "num_batches_tracked", [], [], {"kind": "zeros"})},
    ]
    return params, buffers


@pytest.mark.parametrize("layout", [["batch", "c", "y", "x"], ["batch", "y", "c"]])
def test_batchnorm_in_inference_mode(opset: int, layout: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", "y", c=3, x=4)
    inp = n.input("inp", layout)
    params, buffers = batchnorm_specs("bn", "c", 3)
    n.output(
        n.op("batchnorm", [inp], layout, scope="bn", params=params, buffers=buffers, axis="c", eps=1e-5, momentum=0.1)
    )
    g = n.graph()
    w = random_weights(g)
    xv = rand(*[{"batch": 2, "c": 3, "y": 5, "x": 4}[a] for a in layout])
    xt = t(xv) if layout[1] == "c" else t(xv).transpose(1, 2)
    ref = F.batch_norm(
        xt, t(w["bn.running_mean"]), t(w["bn.running_var"]), t(w["bn.weight"]), t(w["bn.bias"]), False, 0.1, 1e-5
    )
    close(export_run(g, {"inp": xv}, opset, w)["y"], ref if layout[1] == "c" else ref.transpose(1, 2))


# convolution, pooling, upsampling ------------------------------------------------------
def conv_out(size: Size, k: int, s: int, p: int, d: int = 1) -> Size:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def test_conv2d_with_free_spatial_axes_stride_padding_groups(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "y", "x", cin=4, cout=6)
    n.axes(y2=conv_out(Size.symbol("y"), 3, 2, 1), x2=conv_out(Size.symbol("x"), 3, 2, 1))
    inp = n.input("img", ["batch", "cin", "y", "x"])
    params = [
        param("conv", "weight", ["cout", "cin", "<kernel y>", "<kernel x>"], [6, 2, 3, 3]),
        param("conv", "bias", ["cout"], [6]),
    ]
    attrs = dict(
        spatial=[["y", "y2"], ["x", "x2"]],
        kernel=[3, 3],
        stride=[2, 2],
        padding=[1, 1],
        dilation=[1, 1],
        groups=2,
        bias=True,
        transposed=False,
        output_padding=[0, 0],
    )
    n.output(
        n.op(
            "conv",
            [inp],
            ["batch", "cout", "y2", "x2"],
            scope="conv",
            params=params,
            **{"in": "cin", "out": "cout"},
            **attrs,
        )
    )
    g = n.graph()
    w = random_weights(g)
    for shape in ((2, 4, 9, 8), (1, 4, 5, 12)):
        xv = rand(*shape)
        ref = F.conv2d(t(xv), t(w["conv.weight"]), t(w["conv.bias"]), stride=2, padding=1, groups=2)
        close(export_run(g, {"img": xv}, opset, w)["y"], ref)


def test_conv1d_channels_last_with_two_passing_axes(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "time", "len", cin=3, cout=2, len2=conv_out(Size.symbol("len"), 3, 1, 0, 2))
    inp = n.input("s", ["batch", "len", "time", "cin"])
    params = [param("c", "weight", ["cout", "cin", "<kernel len>"], [2, 3, 3])]
    attrs = dict(
        spatial=[["len", "len2"]],
        kernel=[3],
        stride=[1],
        padding=[0],
        dilation=[2],
        groups=1,
        bias=False,
        transposed=False,
        output_padding=[0],
    )
    n.output(
        n.op(
            "conv",
            [inp],
            ["batch", "time", "cout", "len2"],
            scope="c",
            params=params,
            **{"in": "cin", "out": "cout"},
            **attrs,
        )
    )
    g = n.graph()
    w = random_weights(g)
    for b, length, tm in ((2, 9, 3), (1, 7, 2)):
        xv = rand(b, length, tm, 3)
        xt = t(xv).permute(0, 2, 3, 1).reshape(b * tm, 3, length)
        ref = F.conv1d(xt, t(w["c.weight"]), dilation=2)
        close(export_run(g, {"s": xv}, opset, w)["y"], ref.reshape(b, tm, 2, -1))


def test_transposed_conv2d_without_passing_axes(opset: int) -> None:
    n = IRBuilder()
    n.axes(cin=4, cout=2, y=5, x=4, y2=10, x2=8)
    inp = n.input("img", ["cin", "y", "x"])
    params = [
        param("up", "weight", ["cin", "cout", "<kernel y>", "<kernel x>"], [4, 2, 2, 2]),
        param("up", "bias", ["cout"], [2]),
    ]
    attrs = dict(
        spatial=[["y", "y2"], ["x", "x2"]],
        kernel=[2, 2],
        stride=[2, 2],
        padding=[0, 0],
        dilation=[1, 1],
        groups=1,
        bias=True,
        transposed=True,
        output_padding=[0, 0],
    )
    n.output(
        n.op("conv", [inp], ["cout", "y2", "x2"], scope="up", params=params, **{"in": "cin", "out": "cout"}, **attrs)
    )
    g = n.graph()
    w = random_weights(g)
    xv = rand(4, 5, 4)
    ref = F.conv_transpose2d(t(xv)[None], t(w["up.weight"]), t(w["up.bias"]), stride=2)[0]
    close(export_run(g, {"img": xv}, opset, w)["y"], ref)


def test_transposed_conv1d_with_output_padding(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "len", cin=2, cout=3, len2=(Size.symbol("len") - 1) * 2 - 2 + 3 + 1)
    inp = n.input("s", ["batch", "cin", "len"])
    params = [param("up", "weight", ["cin", "cout", "<kernel len>"], [2, 3, 3])]
    attrs = dict(
        spatial=[["len", "len2"]],
        kernel=[3],
        stride=[2],
        padding=[1],
        dilation=[1],
        groups=1,
        bias=False,
        transposed=True,
        output_padding=[1],
    )
    n.output(
        n.op(
            "conv", [inp], ["batch", "cout", "len2"], scope="up", params=params, **{"in": "cin", "out": "cout"}, **attrs
        )
    )
    g = n.graph()
    w = random_weights(g)
    for length in (4, 7):
        xv = rand(2, 2, length)
        ref = F.conv_transpose1d(t(xv), t(w["up.weight"]), stride=2, padding=1, output_padding=1)
        close(export_run(g, {"s": xv}, opset, w)["y"], ref)


@pytest.mark.parametrize("lead", [["batch", "c"], ["c"], ["batch", "c", "d"], []])
def test_maxpool_with_any_number_of_passing_axes(opset: int, lead: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", "y", c=3, d=2, y2=conv_out(Size.symbol("y"), 3, 2, 1), x=6, x2=3)
    inp = n.input("img", lead + ["y", "x"])
    n.output(
        n.op(
            "maxpool",
            [inp],
            lead + ["y2", "x2"],
            spatial=[["y", "y2"], ["x", "x2"]],
            kernel=[3, 2],
            stride=[2, 2],
            padding=[1, 0],
        )
    )
    g = n.graph()
    sizes = {"batch": 2, "c": 3, "d": 2, "x": 6}
    for y in (7, 4):
        xv = rand(*[sizes[a] for a in lead], y, 6)
        flat = t(xv).reshape(-1, 1, y, 6)
        ref = F.max_pool2d(flat, (3, 2), (2, 2), (1, 0))
        close(export_run(g, {"img": xv}, opset)["y"], ref.reshape(*xv.shape[: len(lead)], *ref.shape[2:]))


@pytest.mark.parametrize("include", [True, False])
def test_avgpool_channels_last(opset: int, include: bool) -> None:
    n = IRBuilder()
    n.axes("batch", c=3, len=8, len2=4)
    inp = n.input("s", ["batch", "len", "c"])
    n.output(
        n.op(
            "avgpool",
            [inp],
            ["batch", "c", "len2"],
            spatial=[["len", "len2"]],
            kernel=[3],
            stride=[2],
            padding=[1],
            count_include_pad=include,
        )
    )
    g = n.graph()
    xv = rand(2, 8, 3)
    ref = F.avg_pool1d(t(xv).transpose(1, 2), 3, 2, 1, count_include_pad=include)
    close(export_run(g, {"s": xv}, opset)["y"], ref)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("dims", [1, 2])
def test_upsample(opset: int, mode: str, dims: int) -> None:
    n = IRBuilder()
    n.axes("batch", "y", c=2, x=3, y2=2 * Size.symbol("y"), x2=6)
    spatial = [["y", "y2"], ["x", "x2"]][:dims]
    lead = ["batch", "c"] if dims == 2 else ["batch", "c", "x"]
    inp = n.input("img", ["batch", "c", "y", "x"])
    n.output(n.op("upsample", [inp], lead + [o for _, o in spatial], spatial=spatial, scale=[2] * dims, mode=mode))
    g = n.graph()
    torch_mode = mode if mode == "nearest" else ("linear", "bilinear")[dims - 1]
    for y in (4, 5):
        xv = rand(2, 2, y, 3)
        xt = t(xv) if dims == 2 else t(xv).transpose(2, 3).reshape(12, 1, y)
        ref = F.interpolate(xt, scale_factor=[2.0] * dims, mode=torch_mode)
        close(export_run(g, {"img": xv}, opset)["y"], ref if dims == 2 else ref.reshape(2, 2, 3, 2 * y))


# contraction and attention ------------------------------------------------------------------
def test_contract_as_batched_matmul(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", head=4)
    n.axis("key", alias="seq")
    q = n.input("q", ["batch", "seq", "head"])
    k = n.input("k", ["head", "key", "batch"])
    n.output(n.op("contract", [q, k], ["batch", "seq", "key"], over=["head"]))
    g = n.graph()
    for b, s in ((2, 3), (1, 6)):
        qv, kv = rand(b, s, 4), rand(4, s, b)
        close(export_run(g, {"q": qv, "k": kv}, opset)["y"], torch.einsum("bsh,hkb->bsk", t(qv), t(kv)))


def test_contract_groups_several_axes(opset: int) -> None:
    n = IRBuilder()
    n.axes("b", m1=2, m2=3, k1=2, k2=4, n1=5)
    a = n.input("a", ["k1", "m1", "b", "k2", "m2"])
    bb = n.input("bb", ["n1", "k2", "b", "k1"])
    n.output(n.op("contract", [a, bb], ["b", "m1", "m2", "n1"], over=["k1", "k2"]))
    g = n.graph()
    av, bv = rand(2, 2, 3, 4, 3), rand(5, 4, 3, 2)
    close(export_run(g, {"a": av, "bb": bv}, opset)["y"], torch.einsum("imbkn,jkbi->bmnj", t(av), t(bv)))


def test_contract_to_a_scalar_per_batch(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", d=5)
    a = n.input("a", ["batch", "d"])
    b = n.input("b", ["d", "batch"])
    n.output(n.op("contract", [a, b], ["batch"], over=["d"]))
    g = n.graph()
    av, bv = rand(3, 5), rand(5, 3)
    close(export_run(g, {"a": av, "b": bv}, opset)["y"], (t(av) * t(bv).T).sum(1))


def test_contract_over_nothing_is_an_outer_product(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", i=3, j=2)
    a = n.input("a", ["i", "batch"])
    b = n.input("b", ["batch", "j"])
    n.output(n.op("contract", [a, b], ["batch", "i", "j"], over=[]))
    g = n.graph()
    av, bv = rand(3, 2), rand(2, 2)
    close(export_run(g, {"a": av, "b": bv}, opset)["y"], torch.einsum("ib,bj->bij", t(av), t(bv)))


# elementwise ---------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_align_axes_by_name(opset: int, op: str) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", model=3)
    a = n.input("a", ["batch", "seq", "model"])
    b = n.input("b", ["model", "seq"])
    n.output(n.op(op, [a, b], ["batch", "seq", "model"], const=None, const_left=False))
    g = n.graph()
    fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op]
    for bsz, s in ((2, 4), (3, 1)):
        av, bv = rand(bsz, s, 3), rand(3, s, positive=True)
        close(export_run(g, {"a": av, "b": bv}, opset)["y"], fn(t(av), t(bv).T))


def test_binary_ops_broadcast_both_ways(opset: int) -> None:
    n = IRBuilder()
    n.axes(i=3, j=4)
    a = n.input("a", ["i"])
    b = n.input("b", ["j"])
    n.output(n.op("sub", [b, a], ["i", "j"], const=None, const_left=False))
    g = n.graph()
    av, bv = rand(3), rand(4)
    close(export_run(g, {"a": av, "b": bv}, opset)["y"], t(bv)[None, :] - t(av)[:, None])


@pytest.mark.parametrize(
    ("op", "const", "left", "fn"),
    [
        ("add", 2.5, False, lambda x: x + 2.5),
        ("sub", 1.0, True, lambda x: 1.0 - x),
        ("mul", -3.0, False, lambda x: x * -3.0),
        ("div", 2.0, False, lambda x: x / 2.0),
        ("div", 2.0, True, lambda x: 2.0 / x),
        ("pow", 2.0, False, lambda x: x**2.0),
        ("pow", 0.5, False, lambda x: x**0.5),
        ("pow", 2.0, True, lambda x: 2.0**x),
    ],
)
def test_binary_ops_with_a_constant(opset: int, op: str, const: float, left: bool, fn) -> None:
    n = IRBuilder()
    n.axes("batch", d=3)
    x = n.input("x", ["batch", "d"])
    n.output(n.op(op, [x], ["batch", "d"], const=const, const_left=left))
    g = n.graph()
    xv = rand(2, 3, positive=True)
    close(export_run(g, {"x": xv}, opset)["y"], fn(t(xv)))


def test_int_input_divided_becomes_float(opset: int) -> None:
    n = IRBuilder()
    n.axis("n", 4)
    x = n.input("x", ["n"], dtype="int64")
    n.output(n.op("div", [x], ["n"], const=2.0, const_left=False))
    g = n.graph()
    xv = np.array([1, 2, 3, 7], dtype=np.int64)
    close(export_run(g, {"x": xv}, opset)["y"], t(xv) / 2.0)


@pytest.mark.parametrize(
    ("op", "fn", "positive"),
    [
        ("neg", torch.neg, False),
        ("relu", torch.relu, False),
        ("silu", F.silu, False),
        ("tanh", torch.tanh, False),
        ("sigmoid", torch.sigmoid, False),
        ("exp", torch.exp, False),
        ("log", torch.log, True),
        ("sqrt", torch.sqrt, True),
        ("abs", torch.abs, False),
        ("dropout", lambda x: x, False),
    ],
)
def test_unary_ops(opset: int, op: str, fn, positive: bool) -> None:
    n = IRBuilder()
    n.axes("batch", d=5)
    x = n.input("x", ["batch", "d"])
    attrs = {"p": 0.5} if op == "dropout" else {}
    n.output(n.op(op, [x], ["batch", "d"], **attrs))
    g = n.graph()
    for b in (1, 4):
        xv = rand(b, 5, positive=positive)
        close(export_run(g, {"x": xv}, opset)["y"], fn(t(xv)))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(opset: int, approximate: str) -> None:
    n = IRBuilder()
    n.axis("d", 7)
    x = n.input("x", ["d"])
    n.output(n.op("gelu", [x], ["d"], approximate=approximate))
    xv = rand(7) * 3
    close(export_run(n.graph(), {"x": xv}, opset)["y"], F.gelu(t(xv), approximate=approximate))


@pytest.mark.parametrize("op", ["softmax", "logsoftmax"])
def test_softmax_along_a_middle_axis(opset: int, op: str) -> None:
    n = IRBuilder()
    n.axes("batch", "key", d=3)
    x = n.input("x", ["batch", "key", "d"])
    n.output(n.op(op, [x], ["batch", "key", "d"], axis="key"))
    fn = torch.softmax if op == "softmax" else torch.log_softmax
    xv = rand(2, 5, 3)
    close(export_run(n.graph(), {"x": xv}, opset)["y"], fn(t(xv), 1))


@pytest.mark.parametrize("layout", [["batch", "seq", "key"], ["key", "batch", "seq"]])
def test_causal_masks_future_keys(opset: int, layout: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch")
    n.axis("seq", bound=8)
    n.axis("key", alias="seq")
    x = n.input("x", layout)
    n.output(n.op("causal", [x], layout, query="seq", key="key"))
    g = n.graph()
    for s in (3, 6):
        sizes = {"batch": 2, "seq": s, "key": s}
        xv = rand(*[sizes[a] for a in layout])
        xt = t(xv).permute(*[layout.index(a) for a in ("batch", "seq", "key")])
        ref = xt.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
        back = [("batch", "seq", "key").index(a) for a in layout]
        close(export_run(g, {"x": xv}, opset)["y"], ref.permute(*back))


def test_causal_with_fewer_queries_than_keys(opset: int) -> None:
    n = IRBuilder()
    n.axes(q=2, k=4)
    x = n.input("x", ["q", "k"])
    n.output(n.op("causal", [x], ["q", "k"], query="q", key="k"))
    xv = rand(2, 4)
    # aligned bottom-right (docs/language.md): query i of 2 sees keys 0 .. i + 2
    ref = t(xv).masked_fill(torch.ones(2, 4, dtype=torch.bool).triu(3), float("-inf"))
    close(export_run(n.graph(), {"x": xv}, opset)["y"], ref)


# reductions and wiring -------------------------------------------------------------------------
@pytest.mark.parametrize(("op", "fn"), [("sum", torch.sum), ("mean", torch.mean), ("max", torch.amax)])
def test_reductions(opset: int, op: str, fn) -> None:
    n = IRBuilder()
    n.axes("batch", a=3, b=4)
    x = n.input("x", ["a", "batch", "b"])
    n.output(n.op(op, [x], ["batch"], axes=["b", "a"]))
    xv = rand(3, 2, 4)
    close(export_run(n.graph(), {"x": xv}, opset)["y"], fn(t(xv), dim=(0, 2)))


def test_rename_and_transpose(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", d=3)
    n.axis("key", alias="seq")
    x = n.input("x", ["batch", "seq", "d"])
    r = n.op("rename", [x], ["batch", "key", "d"], map={"seq": "key"})
    n.output(n.op("transpose", [r], ["d", "batch", "key"], perm=[2, 0, 1]))
    xv = rand(2, 5, 3)
    close(export_run(n.graph(), {"x": xv}, opset)["y"], t(xv).permute(2, 0, 1))


def test_split_and_merge_with_free_axes(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", model=6, heads=2, head=3, flat=6 * Size.symbol("seq"))
    x = n.input("x", ["batch", "seq", "model"])
    s = n.op("split", [x], ["batch", "seq", "heads", "head"], axis="model", into=["heads", "head"])
    n.output(n.op("merge", [s], ["batch", "flat"], axes=["heads", "seq", "head"], into="flat"))
    g = n.graph()
    for b, sq in ((2, 3), (1, 5)):
        xv = rand(b, sq, 6)
        ref = t(xv).reshape(b, sq, 2, 3).permute(0, 2, 1, 3).reshape(b, -1)
        close(export_run(g, {"x": xv}, opset)["y"], ref)


def test_concat_broadcasts_inputs_lacking_an_axis(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", a=2, b=3, c=5)
    x = n.input("x", ["batch", "seq", "a"])
    y = n.input("y", ["b", "seq"])
    n.output(n.op("concat", [x, y], ["batch", "seq", "c"], axes=["a", "b"], into="c"), name="out")
    g = n.graph()
    for bsz, s in ((2, 3), (4, 1)):
        xv, yv = rand(bsz, s, 2), rand(3, s)
        ref = torch.cat([t(xv), t(yv).T[None].expand(bsz, s, 3)], dim=2)
        close(export_run(g, {"x": xv, "y": yv}, opset)["out"], ref)


def test_select_removes_an_axis(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", d=3)
    x = n.input("x", ["batch", "seq", "d"])
    n.output(n.op("select", [x], ["batch", "d"], axis="seq", index=-1))
    xv = rand(2, 4, 3)
    close(export_run(n.graph(), {"x": xv}, opset)["y"], t(xv)[:, -1])


def test_output_is_transposed_to_its_declared_order(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", d=3)
    x = n.input("x", ["batch", "d"])
    n.output(n.op("relu", [x], ["batch", "d"]), axes=["d", "batch"])
    xv = rand(2, 3)
    close(export_run(n.graph(), {"x": xv}, opset)["y"], torch.relu(t(xv)).T)


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, causal: bool) -> torch.Tensor:
    s = q @ k.transpose(-1, -2) * scale
    if causal:
        # aligned bottom-right: with more keys than queries the last query sees every key
        n_q, n_k = s.shape[-2:]
        s = s.masked_fill(torch.ones(n_q, n_k, dtype=torch.bool).triu(1 + n_k - n_q), float("-inf"))
    return s.softmax(-1) @ v


def test_attention_chain_matches_reference(opset: int) -> None:
    n = IRBuilder()
    n.axes("batch", heads=2, head=4)
    n.axis("seq", bound=16)
    n.axis("key", alias="seq")
    q = n.input("q", ["batch", "heads", "seq", "head"])
    k = n.input("k", ["batch", "key", "heads", "head"])
    v = n.input("v", ["batch", "heads", "key", "head"])
    s = n.op("contract", [q, k], ["batch", "heads", "seq", "key"], over=["head"])
    s = n.op("div", [s], ["batch", "heads", "seq", "key"], const=2.0, const_left=False)
    s = n.op("causal", [s], ["batch", "heads", "seq", "key"], query="seq", key="key")
    p = n.op("softmax", [s], ["batch", "heads", "seq", "key"], axis="key")
    n.output(n.op("contract", [p, v], ["batch", "heads", "seq", "head"], over=["key"]))
    g = n.graph()
    for b, sq in ((2, 5), (1, 3)):
        qv, kv, vv = rand(b, 2, sq, 4), rand(b, sq, 2, 4), rand(b, 2, sq, 4)
        ref = attention_reference(t(qv), t(kv).transpose(1, 2), t(vv), 0.5, True)
        close(export_run(g, {"q": qv, "k": kv, "v": vv}, opset)["y"], ref)


@pytest.mark.parametrize("batch_axes", [[], ["batch"], ["batch", "heads", "extra"]])
def test_attention_with_any_number_of_batch_axes(opset: int, batch_axes: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", "seq", "key", heads=2, extra=3, head=4, hv=5)
    q = n.input("q", batch_axes + ["seq", "head"])
    k = n.input("k", batch_axes + ["key", "head"])
    v = n.input("v", ["key"] + batch_axes + ["hv"])
    s = n.op("contract", [k, q], batch_axes + ["key", "seq"], over=["head"])
    s = n.op("mul", [s], batch_axes + ["key", "seq"], const=0.3, const_left=False)
    p = n.op("softmax", [s], batch_axes + ["key", "seq"], axis="key")
    n.output(n.op("contract", [v, p], batch_axes + ["hv", "seq"], over=["key"]))
    g = n.graph()
    sizes = {"batch": 2, "heads": 2, "extra": 3}
    lead = [sizes[a] for a in batch_axes]
    qv, kv, vv = rand(*lead, 3, 4), rand(*lead, 6, 4), rand(6, *lead, 5)
    vt = t(vv).permute(*range(1, len(lead) + 1), 0, len(lead) + 1)
    ref = attention_reference(t(qv), t(kv), vt, 0.3, False).transpose(-1, -2)
    close(export_run(g, {"q": qv, "k": kv, "v": vv}, opset)["y"], ref)


@pytest.mark.parametrize("outer", [["batch"], []])
def test_attention_on_the_layout_linear_produces(opset: int, outer: list[str]) -> None:
    n = IRBuilder()
    n.axes("batch", heads=2, group=3, head=4)
    n.axis("seq", bound=16)
    n.axis("key", alias="seq")
    inner = ["heads", "group"]
    q = n.input("q", outer + ["seq"] + inner + ["head"])
    k = n.input("k", outer + ["key"] + inner + ["head"])
    v = n.input("v", outer + ["key"] + inner + ["head"])
    scores = outer + inner + ["seq", "key"]
    s = n.op("contract", [q, k], scores, over=["head"])
    s = n.op("causal", [s], scores, query="seq", key="key")
    s = n.op("div", [s], scores, const=2.0, const_left=False)
    p = n.op("softmax", [s], scores, axis="key")
    n.output(n.op("contract", [p, v], outer + inner + ["seq", "head"], over=["key"]))
    g = n.graph()
    for b, sq in ((2, 5), (3, 2)):
        lead = [b] if outer else []
        qv, kv, vv = (rand(*lead, sq, 2, 3, 4) for _ in range(3))
        move = (lambda a: t(a).permute(0, 2, 3, 1, 4)) if outer else (lambda a: t(a).permute(1, 2, 0, 3))
        ref = attention_reference(move(qv), move(kv), move(vv), 0.5, True)
        close(export_run(g, {"q": qv, "k": kv, "v": vv}, opset)["y"], ref)


LAYOUT_AXES = {"b": 2, "h": 3, "s": 4, "k": 5, "d": 6}


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_attention_in_any_input_layout_matches_einsum(data: st.DataObject) -> None:
    q_axes = data.draw(st.permutations(["b", "h", "s", "d"]))
    k_axes = data.draw(st.permutations(["b", "h", "k", "d"]))
    v_axes = data.draw(st.permutations(["b", "h", "k", "d"]))
    out_axes = data.draw(st.permutations(["b", "h", "s", "d"]))
    causal = data.draw(st.booleans())
    n = IRBuilder()
    n.axes(**LAYOUT_AXES)
    q, k, v = (n.input(name, axes) for name, axes in (("q", q_axes), ("k", k_axes), ("v", v_axes)))
    shared = [a for a in q_axes if a in ("b", "h")]
    scores = shared + ["s", "k"]
    s = n.op("contract", [q, k], scores, over=["d"])
    s = n.op("mul", [s], scores, const=0.5, const_left=False)
    if causal:
        s = n.op("causal", [s], scores, query="s", key="k")
    p = n.op("softmax", [s], scores, axis="k")
    n.output(n.op("contract", [p, v], shared + ["s", "d"], over=["k"]), axes=out_axes)
    g = n.graph()
    feeds = {
        name: rand(*[LAYOUT_AXES[a] for a in axes]) for name, axes in (("q", q_axes), ("k", k_axes), ("v", v_axes))
    }
    qt = torch.einsum(f"{''.join(q_axes)}->bhsd", t(feeds["q"]))
    kt = torch.einsum(f"{''.join(k_axes)}->bhkd", t(feeds["k"]))
    vt = torch.einsum(f"{''.join(v_axes)}->bhkd", t(feeds["v"]))
    ref = torch.einsum(f"bhsd->{''.join(out_axes)}", attention_reference(qt, kt, vt, 0.5, causal))
    for opset in (17, 23):
        close(export_run(g, feeds, opset)["y"], ref)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_contract_in_any_layout_matches_einsum(data: st.DataObject) -> None:
    a_axes = data.draw(st.permutations(["b", "s", "d", "h"]))
    b_axes = data.draw(st.permutations(["b", "k", "d", "h"]))
    over = data.draw(st.sampled_from([["d"], ["d", "h"], []]))
    n = IRBuilder()
    n.axes(**LAYOUT_AXES)
    a, b = n.input("a", a_axes), n.input("b", b_axes)
    shared = [x for x in a_axes if x in b_axes and x not in over]
    out = shared + [x for x in a_axes if x not in b_axes] + [x for x in b_axes if x not in a_axes]
    n.output(n.op("contract", [a, b], out, over=over))
    feeds = {"a": rand(*[LAYOUT_AXES[x] for x in a_axes]), "b": rand(*[LAYOUT_AXES[x] for x in b_axes])}
    ref = torch.einsum(f"{''.join(a_axes)},{''.join(b_axes)}->{''.join(out)}", t(feeds["a"]), t(feeds["b"]))
    close(export_run(n.graph(), feeds, 17)["y"], ref)


# positions, casts, booleans, masks, activations (graphs and references in value_cases.py) ------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_value_box_runs_in_onnxruntime(opset: int, name: str) -> None:
    case = CASES[name]
    b = value_builder()
    case.build(b)
    g = b.graph()
    for batch, seq in ((2, 5), (3, 7)):
        feeds = case.inputs(rng, batch, seq)
        close(export_run(g, feeds, opset)["y"], case.ref(*(t(v) for v in feeds.values())))


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_layout_box_runs_in_onnxruntime(opset: int, name: str) -> None:
    build, ref = LAYOUT[name]
    b = layout_builder()
    build(b)
    g = b.graph()
    for batch, seq in ((2, 5), (3, 8)):
        xv = rand(batch, seq, 3)
        close(export_run(g, {"x": xv}, opset)["y"], ref(t(xv)))

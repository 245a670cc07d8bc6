"""Every IR op lowered to torch.fx matches a hand-written torch reference.

Each case runs at two sizes of its free axes (the module is built once).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fx_compare import assert_matches
from irbuild import IRBuilder, param
from value_cases import CASES, LAYOUT, layout_builder
from value_cases import builder as value_builder

from ncdl.compiler.fx import lower_fx

SIZES = [(2, 5), (3, 7)]  # (batch, seq) pairs


def _builder(model: int = 6) -> IRBuilder:
    b = IRBuilder()
    b.axis("batch")
    b.axis("seq", bound=16)
    b.axis("model", model)
    return b


def _run(b: IRBuilder, ref, make) -> None:
    gm = lower_fx(b.graph())
    for batch, seq in SIZES:
        torch.manual_seed(batch)
        assert_matches(gm, ref, *make(batch, seq))


def _x(batch: int, seq: int, model: int = 6) -> tuple[torch.Tensor]:
    return (torch.randn(batch, seq, model),)


# learned ---------------------------------------------------------------------------
def test_linear_with_bias() -> None:
    b = _builder()
    b.axis("hidden", 5)
    b.output(b.linear(b.input("x", ["batch", "seq", "model"]), ["model"], ["hidden"], scope="fc"))
    _run(b, lambda p, x: F.linear(x, p["fc.weight"], p["fc.bias"]), _x)


def test_linear_over_two_axes_not_last() -> None:
    b = _builder()
    b.axis("heads", 2)
    b.axis("head", 3)
    x = b.input("x", ["batch", "heads", "seq", "head"])
    b.output(b.linear(x, ["heads", "head"], ["model"], scope="o"))

    def ref(p, x):
        return F.linear(x.transpose(1, 2).flatten(2), p["o.weight"].reshape(6, 6), p["o.bias"])

    _run(b, ref, lambda n, s: (torch.randn(n, 2, s, 3),))


def test_linear_into_two_axes_without_bias() -> None:
    b = _builder()
    b.axis("heads", 2)
    b.axis("head", 4)
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.linear(x, ["model"], ["heads", "head"], scope="q", bias=False))

    def ref(p, x):
        return F.linear(x, p["q.weight"].reshape(8, 6)).unflatten(-1, (2, 4))

    _run(b, ref, _x)


def test_embed() -> None:
    b = _builder(4)
    b.axis("vocab", 10)
    t = b.input("tokens", ["batch", "seq"], dtype="int64", of="vocab")
    w = param("emb", "weight", ["vocab", "model"], [10, 4], {"kind": "normal", "mean": 0.0, "std": 1.0})
    b.output(b.op("embed", [t], ["batch", "seq", "model"], scope="emb", params=[w], vocab="vocab", out=["model"]))
    _run(b, lambda p, t: F.embedding(t, p["emb.weight"]), lambda n, s: (torch.randint(0, 10, (n, s)),))


@pytest.mark.parametrize("key", ["weight", ""])  # "": a bare nn.Parameter named by its path
def test_param_is_sliced_to_the_run_time_length(key: str) -> None:
    b = _builder(4)
    x = b.input("x", ["batch", "seq", "model"])
    w = param("pos", key, ["seq", "model"], [16, 4], {"kind": "normal", "mean": 0.0, "std": 0.02})
    pos = b.op("param", [], ["seq", "model"], scope="pos", params=[w])
    b.output(b.op("add", [x, pos], ["batch", "seq", "model"]))
    _run(b, lambda p, x: x + p[w["name"]][: x.shape[1]], lambda n, s: _x(n, s, 4))


@pytest.mark.parametrize("layout", ["last", "middle"])
def test_layernorm(layout: str) -> None:
    b = _builder()
    axes = ["batch", "seq", "model"] if layout == "last" else ["batch", "model", "seq"]
    x = b.input("x", axes)
    ps = [param("ln", k, ["model"], [6], {"kind": "normal", "mean": 1.0, "std": 0.5}) for k in ("weight", "bias")]
    b.output(b.op("layernorm", [x], axes, scope="ln", params=ps, axes=["model"], eps=1e-5, affine=True, bias=True))

    def ref(p, x):
        if layout == "middle":
            return F.layer_norm(x.transpose(1, 2), (6,), p["ln.weight"], p["ln.bias"], 1e-5).transpose(1, 2)
        return F.layer_norm(x, (6,), p["ln.weight"], p["ln.bias"], 1e-5)

    _run(b, ref, (lambda n, s: _x(n, s)) if layout == "last" else (lambda n, s: (torch.randn(n, 6, s),)))


def test_layernorm_over_two_axes_without_affine() -> None:
    b = _builder()
    b.axis("heads", 2)
    x = b.input("x", ["batch", "heads", "seq", "model"])
    b.output(b.op("layernorm", [x], b.axes_of(x), axes=["heads", "model"], eps=1e-6, affine=False, bias=False))

    def ref(p, x):
        return F.layer_norm(x.permute(0, 2, 1, 3), (2, 6), eps=1e-6).permute(0, 2, 1, 3)

    _run(b, ref, lambda n, s: (torch.randn(n, 2, s, 6),))


def test_rmsnorm() -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    w = param("rms", "weight", ["model"], [6], {"kind": "normal", "mean": 1.0, "std": 0.5})
    b.output(b.op("rmsnorm", [x], b.axes_of(x), scope="rms", params=[w], axes=["model"], eps=1e-6, affine=True))
    _run(b, lambda p, x: F.rms_norm(x, (6,), p["rms.weight"], 1e-6), _x)


# wiring -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a_axes", "b_axes", "over", "out", "spec"),
    [
        (["batch", "seq", "model"], ["model", "hidden"], ["model"], ["batch", "seq", "hidden"], "bsm,mh->bsh"),
        (
            ["batch", "seq", "model"],
            ["batch", "hidden", "model"],
            ["model"],
            ["batch", "seq", "hidden"],
            "bsm,bhm->bsh",
        ),
        (
            ["batch", "model", "seq"],
            ["batch", "model", "hidden"],
            ["model"],
            ["batch", "seq", "hidden"],
            "bms,bmh->bsh",
        ),
        (["model", "batch", "seq"], ["batch", "model"], ["model"], ["batch", "seq"], "mbs,bm->bs"),
        (["batch", "seq", "model"], ["model"], ["model"], ["batch", "seq"], "bsm,m->bs"),
        (
            ["batch", "seq", "heads", "head"],
            ["heads", "head", "hidden"],
            ["heads", "head"],
            ["batch", "seq", "hidden"],
            "bsne,neh->bsh",
        ),
        (["seq", "heads", "model"], ["model", "hidden"], ["model"], ["seq", "heads", "hidden"], "snm,mh->snh"),
        (["batch", "heads", "model"], ["batch", "model", "seq"], ["model"], ["batch", "heads", "seq"], "bnm,bms->bns"),
    ],
)
def test_contract(a_axes, b_axes, over, out, spec) -> None:
    b = _builder()
    b.axis("hidden", 5)
    b.axis("heads", 2)
    b.axis("head", 3)
    dims = {"batch": None, "seq": None, "model": 6, "hidden": 5, "heads": 2, "head": 3}
    xa, xb = b.input("a", a_axes), b.input("b", b_axes)
    b.output(b.op("contract", [xa, xb], out, over=over))

    def make(n, s):
        size = {**dims, "batch": n, "seq": s}
        return torch.randn([size[a] for a in a_axes]), torch.randn([size[a] for a in b_axes])

    _run(b, lambda p, x, y: torch.einsum(spec, x, y), make)


def test_contract_uses_matmul_without_permutes_for_a_batched_matmul() -> None:
    b = _builder()
    b.axis("key", alias="seq")
    q, k = b.input("q", ["batch", "seq", "model"]), b.input("k", ["batch", "key", "model"])
    b.output(b.op("contract", [q, k], ["batch", "seq", "key"], name="s", over=["model"]))
    code = lower_fx(b.graph()).code
    body = [line.split(";")[0].strip() for line in code.splitlines()[4:-2]]
    assert body[1:] == ["s_b_t = k.transpose(-2, -1)", "s = torch.matmul(q, s_b_t)"]


BROADCAST = {
    "bias": (["model"], lambda x, y: x + y),
    "middle": (["batch", "model"], lambda x, y: x + y[:, None, :]),
    "permuted": (["model", "seq"], lambda x, y: x + y.T),
}


@pytest.mark.parametrize("case", list(BROADCAST))
def test_add_aligns_axes_by_name(case: str) -> None:
    other, fn = BROADCAST[case]
    b = _builder()
    x, y = b.input("x", ["batch", "seq", "model"]), b.input("y", other)
    b.output(b.op("add", [x, y], ["batch", "seq", "model"]))

    def make(n, s):
        size = {"batch": n, "seq": s, "model": 6}
        return torch.randn(n, s, 6), torch.randn([size[a] for a in other])

    _run(b, lambda p, x, y: fn(x, y), make)


@pytest.mark.parametrize(
    ("op", "const", "left", "fn"),
    [
        ("sub", 2.0, True, lambda x: 2.0 - x),
        ("mul", 3.0, False, lambda x: x * 3.0),
        ("div", 4.0, False, lambda x: x / 4.0),
        ("div", 4.0, True, lambda x: 4.0 / x),
        ("pow", 2.0, False, lambda x: x**2.0),
        ("add", 1.5, False, lambda x: x + 1.5),
    ],
)
def test_binary_with_constant(op, const, left, fn) -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op(op, [x], b.axes_of(x), const=const, const_left=left))
    _run(b, lambda p, x: fn(x), _x)


@pytest.mark.parametrize("op", ["sub", "mul", "div"])
def test_binary_of_two_tensors(op: str) -> None:
    b = _builder()
    x, y = b.input("x", ["batch", "seq", "model"]), b.input("y", ["batch", "seq", "model"])
    b.output(b.op(op, [x, y], b.axes_of(x)))
    fn = {"sub": torch.sub, "mul": torch.mul, "div": torch.div}[op]
    _run(b, lambda p, x, y: fn(x, y), lambda n, s: (torch.randn(n, s, 6), torch.rand(n, s, 6) + 0.5))


UNARY = {
    "neg": (torch.neg, {}),
    "relu": (torch.relu, {}),
    "gelu": (F.gelu, {}),
    "silu": (F.silu, {}),
    "tanh": (torch.tanh, {}),
    "sigmoid": (torch.sigmoid, {}),
    "exp": (torch.exp, {}),
    "log": (torch.log, {}),
    "sqrt": (torch.sqrt, {}),
    "abs": (torch.abs, {}),
}


@pytest.mark.parametrize("op", list(UNARY))
def test_unary(op: str) -> None:
    fn, attrs = UNARY[op]
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op(op, [x], b.axes_of(x), **attrs))
    positive = op in ("log", "sqrt")
    _run(b, lambda p, x: fn(x), lambda n, s: (torch.rand(n, s, 6) + 0.5,) if positive else _x(n, s))


def test_gelu_tanh() -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op("gelu", [x], b.axes_of(x), approximate="tanh"))
    _run(b, lambda p, x: F.gelu(x, approximate="tanh"), _x)


@pytest.mark.parametrize(("op", "fn"), [("softmax", F.softmax), ("logsoftmax", F.log_softmax)])
def test_softmax_over_a_named_axis(op, fn) -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op(op, [x], b.axes_of(x), axis="seq"))
    _run(b, lambda p, x: fn(x, dim=1), _x)


@pytest.mark.parametrize("layout", [["batch", "seq", "key"], ["key", "batch", "seq"]])
def test_causal(layout: list[str]) -> None:
    b = _builder()
    b.axis("key", alias="seq")
    x = b.input("x", layout)
    b.output(b.op("causal", [x], layout, query="seq", key="key"))

    def ref(p, x):
        y = x.permute([layout.index(a) for a in ["batch", "seq", "key"]])
        s = y.shape[1]
        y = y.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
        return y.permute([["batch", "seq", "key"].index(a) for a in layout])

    def make(n, s):
        size = {"batch": n, "seq": s, "key": s}
        return (torch.randn([size[a] for a in layout]),)

    _run(b, ref, make)


@pytest.mark.parametrize(
    ("op", "axes", "fn"),
    [
        ("sum", ["seq"], lambda x: x.sum(1)),
        ("mean", ["seq", "model"], lambda x: x.mean((1, 2))),
        ("max", ["model"], lambda x: x.amax(2)),
    ],
)
def test_reductions(op, axes, fn) -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op(op, [x], [a for a in b.axes_of(x) if a not in axes], axes=axes))
    _run(b, lambda p, x: fn(x), _x)


def test_rename_transpose_select_and_output_order() -> None:
    b = _builder()
    b.axis("key", alias="seq")
    x = b.input("x", ["batch", "seq", "model"])
    r = b.op("rename", [x], ["batch", "key", "model"], map={"seq": "key"})
    t = b.op("transpose", [r], ["model", "batch", "key"], perm=[2, 0, 1])
    s = b.op("select", [t], ["model", "key"], axis="batch", index=1)
    b.output(s, ["key", "model"])
    _run(b, lambda p, x: x.permute(2, 0, 1)[:, 1].T, _x)


def test_split_and_merge_with_a_free_axis() -> None:
    b = _builder()
    b.axis("heads", 2)
    b.axis("head", 3)
    x = b.input("x", ["batch", "seq", "model"])
    sp = b.op("split", [x], ["batch", "seq", "heads", "head"], axis="model", into=["heads", "head"])
    b.axis("flat", b.g.graph["axes"]["seq"].size * 2)
    m = b.op("merge", [sp], ["batch", "head", "flat"], axes=["seq", "heads"], into="flat")
    b.output(m)

    def ref(p, x):
        n, s, _ = x.shape
        return x.reshape(n, s, 2, 3).permute(0, 3, 1, 2).reshape(n, 3, s * 2)

    _run(b, ref, _x)


def test_concat_broadcasts_a_missing_axis() -> None:
    b = _builder()
    b.axis("c1", 3)
    b.axis("c2", 2)
    b.axis("c", 5)
    x, y = b.input("x", ["batch", "seq", "c1"]), b.input("y", ["c2", "batch"])
    b.output(b.op("concat", [x, y], ["batch", "seq", "c"], axes=["c1", "c2"], into="c"))

    def ref(p, x, y):
        return torch.cat([x, y.T[:, None, :].expand(-1, x.shape[1], -1)], dim=2)

    _run(b, ref, lambda n, s: (torch.randn(n, s, 3), torch.randn(2, n)))


# stateful -------------------------------------------------------------------------------
def test_dropout_respects_train_and_eval() -> None:
    b = _builder()
    x = b.input("x", ["batch", "seq", "model"])
    b.output(b.op("dropout", [x], b.axes_of(x), p=0.5))
    gm = lower_fx(b.graph())
    x = torch.randn(4, 8, 6)
    torch.manual_seed(0)
    got = gm(x)
    torch.manual_seed(0)
    torch.testing.assert_close(got, F.dropout(x, 0.5, training=True))
    assert (got == 0).any()
    gm.eval()
    torch.testing.assert_close(gm(x), x)


def _batchnorm_graph(layout: list[str]) -> IRBuilder:
    b = IRBuilder()
    b.axis("batch")
    b.axis("c", 3)
    b.axis("y", None)
    x = b.input("x", layout)
    ps = [
        param("bn", "weight", ["c"], [3], {"kind": "normal", "mean": 1.0, "std": 0.3}),
        param("bn", "bias", ["c"], [3], {"kind": "normal", "mean": 0.0, "std": 0.3}),
    ]
    bufs = [
        param("bn", "running_mean", ["c"], [3], {"kind": "zeros"}),
        param("bn", "running_var", ["c"], [3], {"kind": "ones"}),
        param("bn", "num_batches_tracked", [], [], {"kind": "zeros"}),
    ]
    b.output(b.op("batchnorm", [x], layout, scope="bn", params=ps, buffers=bufs, axis="c", eps=1e-5, momentum=0.1))
    return b


@pytest.mark.parametrize("layout", [["batch", "c", "y"], ["batch", "y", "c"]])
def test_batchnorm_matches_nn_in_train_and_eval(layout: list[str]) -> None:
    gm = lower_fx(_batchnorm_graph(layout).graph())
    bn = torch.nn.BatchNorm1d(3)
    bn.load_state_dict({k.removeprefix("bn."): v for k, v in gm.state_dict().items()})
    channel_last = layout[-1] == "c"
    for mode in ("train", "eval", "train"):
        gm.train(mode == "train")
        bn.train(mode == "train")
        for n, s in SIZES:
            x = torch.randn(n, s, 3) if channel_last else torch.randn(n, 3, s)
            want = bn(x.transpose(1, 2)).transpose(1, 2) if channel_last else bn(x)
            torch.testing.assert_close(gm(x), want)
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(gm.state_dict()[f"bn.{key}"], value)
    assert int(gm.state_dict()["bn.num_batches_tracked"]) == 4


# spatial ---------------------------------------------------------------------------------
def _conv_graph(
    layout, *, transposed=False, stride=1, padding=0, dilation=1, groups=1, out_padding=0, nd=2
) -> IRBuilder:
    b = IRBuilder()
    b.axis("batch")
    b.axis("time", 2)
    b.axis("cin", 4)
    b.axis("cout", 6)
    sp_in, sp_out = ["y", "x"][:nd], ["y2", "x2"][:nd]
    for a in sp_in:
        b.axis(a, 9)
    k = 3
    for a in sp_out:
        if transposed:
            b.axis(a, (9 - 1) * stride - 2 * padding + dilation * (k - 1) + out_padding + 1)
        else:
            b.axis(a, (9 + 2 * padding - dilation * (k - 1) - 1) // stride + 1)
    x = b.input("x", layout)
    wshape = [4, 6 // groups, *[k] * nd] if transposed else [6, 4 // groups, *[k] * nd]
    init = {"kind": "uniform", "low": -0.3, "high": 0.3}
    ps = [param("conv", "weight", [], wshape, init), param("conv", "bias", ["cout"], [6], init)]
    others = [a for a in layout if a not in ["cin", *sp_in]]
    attrs = {
        "in": "cin",
        "out": "cout",
        "spatial": [[i, o] for i, o in zip(sp_in, sp_out, strict=True)],
        "kernel": [k] * nd,
        "stride": [stride] * nd,
        "padding": [padding] * nd,
        "dilation": [dilation] * nd,
        "groups": groups,
        "bias": True,
        "transposed": transposed,
        "output_padding": [out_padding] * nd,
    }
    b.output(b.op("conv", [x], others + ["cout", *sp_out], scope="conv", params=ps, **attrs))
    return b


@pytest.mark.parametrize(
    "kw",
    [
        {"stride": 2, "padding": 1},
        {"dilation": 2, "groups": 2},
        {"transposed": True, "stride": 2, "padding": 1, "out_padding": 1},
        {"nd": 1, "padding": 1},
    ],
)
def test_conv(kw) -> None:
    nd = kw.get("nd", 2)
    sp = ["y", "x"][:nd]
    b = _conv_graph(["batch", "cin", *sp], **kw)
    stride, padding, dilation, groups = (
        kw.get("stride", 1),
        kw.get("padding", 0),
        kw.get("dilation", 1),
        kw.get("groups", 1),
    )

    def ref(p, x):
        if kw.get("transposed"):
            return F.conv_transpose2d(
                x, p["conv.weight"], p["conv.bias"], stride, padding, kw["out_padding"], groups, dilation
            )
        fn = F.conv2d if nd == 2 else F.conv1d
        return fn(x, p["conv.weight"], p["conv.bias"], stride, padding, dilation, groups)

    _run(b, ref, lambda n, s: (torch.randn(n, 4, *[9] * nd),))


def test_conv_channel_last_with_two_batch_like_axes() -> None:
    b = _conv_graph(["batch", "time", "y", "x", "cin"], padding=1)

    def ref(p, x):
        n = x.shape[0]
        y = F.conv2d(x.permute(0, 1, 4, 2, 3).flatten(0, 1), p["conv.weight"], p["conv.bias"], 1, 1)
        return y.unflatten(0, (n, 2))

    _run(b, ref, lambda n, s: (torch.randn(n, 2, 9, 9, 4),))


def test_conv_unbatched() -> None:
    b = _conv_graph(["cin", "y", "x"])
    _run(b, lambda p, x: F.conv2d(x, p["conv.weight"], p["conv.bias"]), lambda n, s: (torch.randn(4, 9, 9),))


def _pool_graph(op: str, layout: list[str], **attrs) -> IRBuilder:
    b = IRBuilder()
    b.axis("batch")
    b.axis("c", 3)
    b.axis("t", 2)
    b.axis("y", 8)
    b.axis("x", 8)
    b.axis("y2", 4)
    b.axis("x2", 4)
    x = b.input("x", layout)
    others = [a for a in layout if a not in ("y", "x")]
    b.output(b.op(op, [x], others + ["y2", "x2"], spatial=[["y", "y2"], ["x", "x2"]], **attrs))
    return b


@pytest.mark.parametrize(
    "layout", [["batch", "c", "y", "x"], ["y", "x", "c"], ["batch", "t", "c", "y", "x"], ["y", "x"]]
)
def test_maxpool(layout) -> None:
    b = _pool_graph("maxpool", layout, kernel=[2, 2], stride=[2, 2], padding=[0, 0])
    others = [a for a in layout if a not in ("y", "x")]

    def ref(p, x):
        x = x.permute(*[layout.index(a) for a in others + ["y", "x"]])
        lead = x.shape[: len(others)]
        return F.max_pool2d(x.reshape(-1, 8, 8), 2, 2).reshape(*lead, 4, 4)

    _run(b, ref, lambda n, s: (torch.randn([{"batch": n, "c": 3, "t": 2, "y": 8, "x": 8}[a] for a in layout]),))


def test_avgpool_with_padding() -> None:
    b = _pool_graph(
        "avgpool", ["batch", "c", "y", "x"], kernel=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=False
    )
    _run(b, lambda p, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), lambda n, s: (torch.randn(n, 3, 8, 8),))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample(mode: str) -> None:
    b = IRBuilder()
    b.axis("batch")
    b.axis("c", 3)
    b.axis("y", 4)
    b.axis("x", 5)
    b.axis("y2", 8)
    b.axis("x2", 10)
    x = b.input("x", ["batch", "c", "y", "x"])
    b.output(
        b.op("upsample", [x], ["batch", "c", "y2", "x2"], spatial=[["y", "y2"], ["x", "x2"]], scale=[2, 2], mode=mode)
    )
    torch_mode = "nearest" if mode == "nearest" else "bilinear"
    kw = {} if mode == "nearest" else {"align_corners": False}
    _run(
        b, lambda p, x: F.interpolate(x, scale_factor=2, mode=torch_mode, **kw), lambda n, s: (torch.randn(n, 3, 4, 5),)
    )


@pytest.mark.parametrize("layout", [["c", "y", "x"], ["batch", "t", "c", "y", "x"]])
def test_upsample_folds_other_axes(layout: list[str]) -> None:
    b = IRBuilder()
    for name, size in [("batch", None), ("t", 2), ("c", 3), ("y", 4), ("x", 5), ("y2", 8), ("x2", 10)]:
        b.axis(name, size)
    x = b.input("x", layout)
    out = layout[:-2] + ["y2", "x2"]
    b.output(b.op("upsample", [x], out, spatial=[["y", "y2"], ["x", "x2"]], scale=[2, 2], mode="nearest"))

    def ref(p, x):
        lead = x.shape[:-2]
        return F.interpolate(x.reshape(1, -1, 4, 5), scale_factor=2).reshape(*lead, 8, 10)

    _run(b, ref, lambda n, s: (torch.randn([{"batch": n, "t": 2, "c": 3, "y": 4, "x": 5}[a] for a in layout]),))


def test_upsample_linear_1d_without_batch() -> None:
    b = IRBuilder()
    b.axis("t", 6)
    b.axis("t2", 18)
    x = b.input("x", ["t"])
    b.output(b.op("upsample", [x], ["t2"], spatial=[["t", "t2"]], scale=[3], mode="linear"))
    _run(
        b,
        lambda p, x: F.interpolate(x[None, None], scale_factor=3, mode="linear", align_corners=False)[0, 0],
        lambda n, s: (torch.randn(6),),
    )


# positions, casts, booleans, masks, activations (graphs and references in value_cases.py) ------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_value_box_matches_torch(name: str) -> None:
    case = CASES[name]
    b = value_builder()
    case.build(b)
    gm = lower_fx(b.graph())
    rng = np.random.default_rng(0)
    for batch, seq in SIZES:
        feeds = case.inputs(rng, batch, seq)
        tensors = [torch.from_numpy(v) for v in feeds.values()]
        if any(t.is_floating_point() for t in tensors) and name not in NO_GRADIENT:
            assert_matches(gm, lambda p, *xs: case.ref(*xs), *tensors)
        else:
            torch.testing.assert_close(gm(*tensors), case.ref(*tensors), atol=1e-5, rtol=1e-5)


#: Cases whose output does not depend differentiably on a float input (a cast or comparison cuts the gradient).
NO_GRADIENT = {"casts", "le_const_left", "eq_const", "lt", "le", "gt", "ge", "eq", "ne", "logic"}


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_layout_box_matches_torch(name: str) -> None:
    build, ref = LAYOUT[name]
    b = layout_builder()
    build(b)
    _run(b, lambda p, x: ref(x), lambda n, s: (torch.randn(n, s, 3),))

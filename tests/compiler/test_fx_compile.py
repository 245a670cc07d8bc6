"""torch.compile (inductor, CPU) runs the compiled module at several sizes of its free axes."""

from __future__ import annotations

import math

import pytest
import torch
from irbuild import IRBuilder

from ncdl.compiler.fx import InputShapeError, lower_fx


def _block() -> IRBuilder:
    b = IRBuilder("Tiny")
    for name, size in [("batch", None), ("model", 8), ("heads", 2), ("head", 4)]:
        b.axis(name, size)
    b.axis("seq", bound=16)
    b.axis("key", alias="seq")
    x = b.input("x", ["batch", "seq", "model"])
    h = b.op("layernorm", [x], b.axes_of(x), name="h", scope="ln", axes=["model"], eps=1e-5, affine=False, bias=False)
    q = b.linear(h, ["model"], ["heads", "head"], scope="q", bias=False, name="q")
    k = b.op(
        "rename",
        [b.linear(h, ["model"], ["heads", "head"], scope="k", bias=False)],
        ["batch", "key", "heads", "head"],
        name="k",
        map={"seq": "key"},
    )
    v = b.op(
        "rename",
        [b.linear(h, ["model"], ["heads", "head"], scope="v", bias=False)],
        ["batch", "key", "heads", "head"],
        name="v",
        map={"seq": "key"},
    )
    s = b.op("contract", [q, k], ["batch", "heads", "seq", "key"], name="s", over=["head"])
    s = b.op("div", [s], b.axes_of(s), name="s", const=math.sqrt(4), const_left=False)
    s = b.op("causal", [s], b.axes_of(s), name="s", query="seq", key="key")
    p = b.op("softmax", [s], b.axes_of(s), name="p", axis="key")
    o = b.op("contract", [p, v], ["batch", "heads", "seq", "head"], name="o", over=["key"])
    y = b.linear(o, ["heads", "head"], ["model"], scope="out", name="y")
    b.output(b.op("add", [x, y], b.axes_of(x), name="y"))
    return b


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch by inductor
def test_torch_compile_matches_eager_at_two_sizes_and_still_checks_inputs() -> None:
    torch.manual_seed(0)
    gm = lower_fx(_block().graph())
    compiled = torch.compile(gm, backend="inductor", dynamic=True)
    for batch, seq in [(2, 5), (3, 7)]:
        x = torch.randn(batch, seq, 8)
        torch.testing.assert_close(compiled(x), gm(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(InputShapeError, match=r"^`x`: axis seq is at most 16, got 17 at dim 1$"):
        compiled(torch.randn(2, 17, 8))

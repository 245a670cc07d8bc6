"""Relus after a batchnorm or an add, read by nothing else, run in place with unchanged results and gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ncdl
from ncdl.compiler.passes.inplace_relu import mark_inplace_relu

SOURCE = """\
axis b, c = 3, y = 6, x = 6
model M(image: [b, c, y, x], other: [b, c, y, x]) -> [b, c, y, x] {
    h = image -> conv[c -> c, y -> y, x -> x](kernel=3, padding=1, bias=false) as conv -> batchnorm[c] as bn
    r1 = relu(h)
    s = r1 + other
    r2 = relu(s)
    r3 = relu(r2 + 1.0)
    t = image + other
    r4 = relu(t)
    return r3 + r4 + t
}
"""


def test_the_pass_marks_only_relus_on_fresh_unshared_tensors() -> None:
    g = mark_inplace_relu(ncdl.loads(SOURCE).graph())
    marks = {d["name"]: bool(d.get("inplace")) for _, d in g.nodes(data=True) if d["op"] == "relu"}
    # r1 follows a batchnorm, r2 a two-input add: in place; r3 follows a constant add,
    # r4 reads `t`, which is also returned: not in place
    assert marks == {"r1": True, "r2": True, "r3": False, "r4": False}


def test_inplace_relus_give_the_same_values_and_gradients() -> None:
    gm = ncdl.loads(SOURCE).to_torch()
    assert "relu_" in gm.code
    torch.manual_seed(0)
    image, other = torch.randn(2, 3, 6, 6, requires_grad=True), torch.randn(2, 3, 6, 6, requires_grad=True)
    weight = gm.get_parameter("conv.weight").detach().clone().requires_grad_()
    gamma = gm.get_parameter("bn.weight").detach().clone().requires_grad_()
    beta = gm.get_parameter("bn.bias").detach().clone().requires_grad_()
    h = F.batch_norm(F.conv2d(image, weight, padding=1), None, None, gamma, beta, training=True)
    t = image + other
    want = torch.relu(torch.relu(torch.relu(h) + other) + 1.0) + torch.relu(t) + t
    want.square().sum().backward()
    expected = [image.grad, other.grad, weight.grad, gamma.grad, beta.grad]
    image.grad = other.grad = None
    got = gm.train()(image, other)
    torch.testing.assert_close(got, want)
    got.square().sum().backward()
    params = [gm.get_parameter(n).grad for n in ("conv.weight", "bn.weight", "bn.bias")]
    for g, e in zip([image.grad, other.grad, *params], expected, strict=True):
        torch.testing.assert_close(g, e)


def test_a_pass_copies_the_graph_only_when_it_marks_something() -> None:
    program = ncdl.loads(SOURCE)
    g = program.graph()
    marked = mark_inplace_relu(g)
    assert marked is not g and not any(d.get("inplace") for _, d in g.nodes(data=True))
    plain = ncdl.loads("axis n = 4\nmodel M(x: [n]) -> [n] { return relu(linear[n -> n](x)) }\n").graph()
    assert mark_inplace_relu(plain) is plain

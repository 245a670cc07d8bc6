"""Relus and residual adds over fresh tensors read by nothing else run in place, with unchanged results and gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ncdl
from ncdl.compiler.passes.inplace import mark_inplace

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
    g = mark_inplace(ncdl.loads(SOURCE).graph())
    marks = {d["name"]: bool(d.get("inplace")) for _, d in g.nodes(data=True) if d["op"] == "relu"}
    # r1 follows a batchnorm, r2 a two-input add: in place; r3 follows a constant add,
    # r4 reads `t`, which is also returned: not in place
    assert marks == {"r1": True, "r2": True, "r3": False, "r4": False}
    adds = [d.get("inplace") for _, d in g.nodes(data=True) if d["op"] == "add"]
    # r1 + other, r2 + 1.0, image + other, r3 + r4: none; the final `+ t` may overwrite the fresh `r3 + r4`
    assert adds == [None, None, None, None, 0]


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
    marked = mark_inplace(g)
    assert marked is not g and not any(d.get("inplace") for _, d in g.nodes(data=True))
    plain = ncdl.loads("axis n = 4\nmodel M(x: [n]) -> [n] { return relu(tanh(linear[n -> n](x))) }\n").graph()
    assert mark_inplace(plain) is plain


RESIDUAL = """\
axis b, n = 6, m = 6
model Residual(x: [b, n], y: [b, n]) -> [b, n] {
    h = x + dropout(linear[n -> n](x) as first, p=0.5)
    h = h + (linear[n -> m](h) as second -> rename[m -> n])
    return h + dropout(y, p=0.5)
}
"""


def test_residual_adds_overwrite_the_sublayer_output_never_an_input() -> None:
    g = mark_inplace(ncdl.loads(RESIDUAL).graph())
    adds = [d.get("inplace") for _, d in g.nodes(data=True) if d["op"] == "add"]
    # x + dropout(linear): the dropout's (port 1). h + rename(linear): neither (h is read twice; a rename
    # is not a producer of fresh tensors). h + dropout(y): the fresh sum h (port 0), never the input y,
    # which dropout returns itself at inference
    assert adds == [1, None, 0]


def test_residual_adds_in_place_give_the_same_values_gradients_and_inputs() -> None:
    gm = ncdl.loads(RESIDUAL).to_torch()
    assert ".add_(" in gm.code
    torch.manual_seed(0)
    x, y = torch.randn(3, 6, requires_grad=True), torch.randn(3, 6, requires_grad=True)
    kept = x.detach().clone(), y.detach().clone()
    w1, b1 = (gm.get_parameter(f"first.{k}").detach().clone().requires_grad_() for k in ("weight", "bias"))
    w2, b2 = (gm.get_parameter(f"second.{k}").detach().clone().requires_grad_() for k in ("weight", "bias"))
    for training in (False, True):
        gm.train(training)
        torch.manual_seed(1)
        got = gm(x, y)
        got.square().sum().backward()
        grads = [t.grad for t in (x, y)] + [gm.get_parameter(n).grad for n in ("first.weight", "second.weight")]
        x.grad = y.grad = None
        gm.zero_grad()
        torch.manual_seed(1)
        h = x + F.dropout(F.linear(x, w1, b1), 0.5, training=training)
        h = h + F.linear(h, w2, b2)
        want = h + F.dropout(y, 0.5, training=training)
        want.square().sum().backward()
        torch.testing.assert_close(got, want)
        for g, e in zip(grads, [x.grad, y.grad, w1.grad, w2.grad], strict=True):
            torch.testing.assert_close(g, e)
        x.grad = y.grad = w1.grad = w2.grad = None
        torch.testing.assert_close((x.detach(), y.detach()), kept)  # the inputs are untouched


BLOCKS = """\
axis b, n = 6
circuit Block[n](x: [n]) -> [n] { return linear[n -> n](x) as proj }
model Stack(x: [b, n]) -> [b, n] {
    h = linear[n -> n](x) as first
    return h + Block(h) as block
}
"""


def test_a_submodule_output_is_never_overwritten_in_place() -> None:
    # Block's output is a submodule's: FSDP2 wraps it in a view whose hook an in-place add would lose
    program = ncdl.loads(BLOCKS)
    assert ".add_(" not in program.to_torch().code
    assert ".add_(" in program.to_torch(hierarchy="flat").code

"""The torch.fx module and the ONNX model of one program agree.

Every primitive appears in a small ``.ncd`` program below. For each, the fx
module's weights (its ``state_dict``) go into :func:`lower_onnx`; both run at
two sizes of every free axis, at opset 17 and 23, and must agree within 1e-4.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

import ncdl
from ncdl.compiler.fx import lower_fx
from ncdl.compiler.onnx import lower_onnx
from ncdl.runtime import Session

HEAD = "axis batch, seq <= 16, y, x\naxis key ~ seq\n"

PROGRAMS: dict[str, str] = {
    "linear": """
axis model = 6, hidden = 10, heads = 2, head = 3
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    h = linear[model -> heads head](x)
    h = linear[heads head -> hidden](h, bias=false)
    return linear[hidden -> model](h)
}""",
    "embed_param": """
axis vocab = 11, model = 4
model M(tokens: int[batch, seq] of vocab) -> [batch, seq, model] {
    return embed[vocab -> model](tokens) + param[seq, model](init=normal(0.02))
}""",
    "norms": """
axis model = 6
model M(x: [batch, model, seq]) -> [batch, seq, model] {
    a = layernorm[model](x)
    b = rmsnorm[model](x)
    c = layernorm[model](rename[seq -> key](x), affine=false)
    return a + b + rename[key -> seq](c)
}""",
    "norms_trailing": """
axis model = 6
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    return rmsnorm[model](layernorm[model](x, bias=false)) + rmsnorm[model](x, affine=false)
}""",
    "norms_free_axes": """
axis model = 6
model M(x: [batch, model, seq]) -> [batch, model, seq] {
    a = layernorm[seq](x, affine=false) + rmsnorm[seq](x, affine=false)
    return a + layernorm[model, seq](x, affine=false) + rmsnorm[batch, seq](x, affine=false)
}""",
    "several_results_options": """
axis model = 6
circuit Scores(q: [seq, model], k: [key, model], bias: [seq, key]?) -> (probs: [seq, key], logits: [seq, key]) {
    s = contract[model](q, k) / sqrt(model)
    if bias { s = s + bias }
    return softmax[key](s), s
}
circuit Norm[c, eps: float = 1e-5, centre: bool = true, gain: float = 1](x: [c]) -> [c] {
    return layernorm[c](x, eps=eps, bias=centre) * gain
}
model M(x: [batch, seq, model], b: [batch, seq, key]) -> (h: [batch, seq, model], p: [batch, key, seq], [batch, seq, key]) {
    h = Norm[model, eps=1e-3, centre=false, gain=0.5](x)
    p, logits = Scores(h, rename[seq -> key](x), bias=b)
    q, _ = Scores(h, rename[seq -> key](x))
    return h + Norm[model](x), p + q, logits
}""",
    "batchnorm": """
axis c = 3
model M(img: [batch, c, y, x], s: [batch, y, c]) -> [batch, c, y, x] {
    return batchnorm[c](img) + batchnorm[c](s)
}""",
    "conv": """
axis c = 4, d = 6, e = 2
model M(img: [batch, c, y, x]) -> [batch, e, y3, x3] {
    h = conv[c -> d, y -> y2, x -> x2](img, kernel=3, stride=2, padding=1, groups=2)
    return conv_transpose[d -> e, y2 -> y3, x2 -> x3](h, kernel=2, stride=2)
}""",
    "conv1d_channels_last": """
axis c = 3, d = 5
model M(s: [batch, seq, c]) -> [batch, d, seq] {
    return conv[c -> d, seq](s, kernel=3, padding="same", bias=false)
}""",
    "pooling": """
axis c = 2
model M(img: [batch, c, y, x]) -> [batch, c, y4, x4] {
    a = maxpool[y -> y2, x -> x2](img, kernel=2)
    b = avgpool[y2 -> y3, x2 -> x3](a, kernel=3, stride=1, padding=1, count_include_pad=false)
    return upsample[y3 -> y4, x3 -> x4](b, scale=2, mode="linear")
}""",
    "upsample_nearest": """
axis c = 2
model M(s: [batch, seq, c]) -> [batch, c, seq2] {
    return upsample[seq -> seq2](s, scale=3)
}""",
    "attention": """
axis model = 8, heads = 2, head = model / heads
circuit Attention(q: [seq, head], k: [key, head], v: [key, head]) -> [seq, head] {
    s = contract[head](q, k) / sqrt(head)
    return contract[key](softmax[key](causal[seq, key](s)), v)
}
model M(x: [batch, seq, model]) -> [batch, seq, model] {
    q = linear[model -> heads head](x, bias=false)
    k = rename[seq -> key](linear[model -> heads head](x, bias=false))
    v = rename[seq -> key](linear[model -> heads head](x, bias=false))
    return linear[heads head -> model](Attention(q, k, v))
}""",
    "arithmetic": """
axis model = 5
model M(a: [batch, seq, model], b: [model]) -> [batch, seq, model] {
    u = (a + b) * (a - b) / (abs(b) + 1) + a ** 2 - 1 / (abs(a) + 2) - 3 * -a
    v = relu(u) + gelu(u) + gelu(u, approximate="tanh") + silu(u) + tanh(u) + sigmoid(u)
    w = exp(-abs(u)) + log(abs(u) + 1) + sqrt(abs(u) + 1)
    return dropout(v + w, p=0.5)
}""",
    "softmax_causal": """
model M(s: [batch, seq, key]) -> [batch, seq, key] {
    return softmax[key](causal[seq, key](s)) + logsoftmax[seq](s)
}""",
    "reductions": """
axis a = 3, b = 4
model M(x: [batch, a, seq, b]) -> [batch, seq] {
    return sum[a](max[b](x)) + mean[a, b](x)
}""",
    "wiring": """
axis model = 6, heads = 2, head = 3, n = 4, both = 10
model M(x: [batch, seq, model], t: [n, seq]) -> [batch, both, seq] {
    h = split[model -> heads head](x)
    m = merge[head heads -> model](h)
    c = concat[model, n -> both](m, t)
    return c + select[both](c, index=2)
}""",
}

#: Two settings of the free axes for every program.
SIZES = [
    {"batch": 2, "seq": 5, "key": 5, "y": 8, "x": 6},
    {"batch": 1, "seq": 9, "key": 9, "y": 5, "x": 11},
]


def feeds_for(program: ncdl.Program, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Random inputs for the program's model at the given free-axis sizes."""
    g = program.graph()
    rng = np.random.default_rng(seed)
    out = {}
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = [g.graph["axes"][a].fixed or sizes[a] for a in data["axes"]]
        if data["dtype"] == "int64":
            high = g.graph["axes"][data["attrs"]["of"]].fixed
            out[data["attrs"]["name"]] = rng.integers(0, high, shape).astype(np.int64)
        else:
            out[data["attrs"]["name"]] = rng.standard_normal(shape).astype(np.float32)
    return out


@pytest.fixture(scope="module", params=sorted(PROGRAMS))
def compiled(request: pytest.FixtureRequest) -> tuple[ncdl.Program, torch.fx.GraphModule]:
    program = ncdl.loads(HEAD + PROGRAMS[request.param], f"{request.param}.ncd")
    gm = lower_fx(program.graph()).eval()
    with torch.no_grad():  # move batchnorm statistics off their identity init
        for name, buf in gm.named_buffers():
            if name.endswith("running_mean"):
                buf.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return program, gm


@pytest.mark.parametrize("opset", [17, 23])
def test_fx_and_onnxruntime_agree(compiled: tuple[ncdl.Program, torch.fx.GraphModule], opset: int) -> None:
    program, gm = compiled
    model = lower_onnx(program.graph(), state_dict=gm.state_dict(), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    session = Session(model)
    for seed, sizes in enumerate(SIZES):
        feeds = feeds_for(program, sizes, seed)
        with torch.no_grad():
            expected = gm(*(torch.from_numpy(v) for v in feeds.values()))
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = session.run(feeds)
        assert list(got) == [program.graph().nodes[n]["attrs"]["name"] for n in program.graph().graph["outputs"]]
        for name, want in zip(got, expected, strict=True):
            np.testing.assert_allclose(got[name], want.numpy(), atol=1e-4, rtol=1e-4, err_msg=f"{name} at {sizes}")

"""`a, b = split[c -> a, b](x)`: unequal parts of an axis, against torch.split, in torch and onnxruntime."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

import ncdl

SOURCE = """
axis batch, seq, c = 10, a = 3, b = 2
model Channels(x: [batch, seq, c]) -> [batch, seq, c2] {
    p, q, r = split[c -> a, rest, b](x)
    return concat[rest, a, b -> c2](relu(q), p, r * 2)
}
model Steps(x: [batch, seq, c]) -> [batch, c, seq2] {
    head, mid, tail = split[seq -> a, mid, b](x)
    return concat[b, mid, a -> seq2](tail, mid * 2, head)
}
model Last(x: [batch, seq, c]) -> [batch, rest, c] {
    first, rest = split[seq -> a, rest](x)
    return rest + sum[a](first)
}
"""


def _channels(x: torch.Tensor) -> torch.Tensor:
    p, q, r = torch.split(x, [3, 5, 2], dim=2)
    return torch.cat([torch.relu(q), p, r * 2], dim=2)


def _steps(x: torch.Tensor) -> torch.Tensor:
    head, mid, tail = torch.split(x, [3, x.shape[1] - 5, 2], dim=1)
    return torch.cat([tail, mid * 2, head], dim=1).transpose(1, 2)


def _last(x: torch.Tensor) -> torch.Tensor:
    first, rest = torch.split(x, [3, x.shape[1] - 3], dim=1)
    return rest + first.sum(1, keepdim=True)


@pytest.mark.parametrize(("model", "ref"), [("Channels", _channels), ("Steps", _steps), ("Last", _last)])
@pytest.mark.parametrize("seq", [6, 11])
def test_parts_match_torch_split_in_torch_and_onnxruntime(model: str, ref, seq: int) -> None:
    program = ncdl.loads(SOURCE, "parts.ncd")
    x = torch.randn(2, seq, 10, generator=torch.Generator().manual_seed(seq))
    want = ref(x)
    torch.testing.assert_close(program.to_torch(model)(x), want, rtol=0, atol=0)
    (got,) = ort.InferenceSession(program.to_onnx(model).SerializeToString()).run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=0, atol=0)


def test_a_part_of_a_fixed_axis_has_its_size_inferred() -> None:
    g = ncdl.loads(SOURCE, "parts.ncd").graph("Channels")
    assert g.graph["axes"]["rest"].fixed == 5


BAD = "axis batch, seq, k ~ batch, c = 10, a = 3, b = 2, d = 5\nmodel P(x: [batch, seq, c]) -> [batch, seq, a] {\n    p, q = %s\n    return p\n}\n"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "split[c -> a, b](x)",
            "m.ncd:3:17: error[E240]: split: the parts add up to 5, but 'c' has size 10\n"
            " 3 |     p, q = split[c -> a, b](x)\n"
            "   |                 ^^^^^^^^^^^\n"
            "  help: leave one part a new axis to take the rest",
        ),
        (
            "split[c -> d, e, b, a](x)",
            "m.ncd:3:17: error[E241]: split: the other parts take 10 of 'c' (size 10); nothing is left for 'e'\n"
            " 3 |     p, q = split[c -> d, e, b, a](x)\n"
            "   |                 ^^^^^^^^^^^^^^^^^\n"
            "  help: the parts' sizes add up to the axis's size",
        ),
        (
            "split[seq -> k, e](x)",
            "m.ncd:3:17: error[E242]: split of the free axis 'seq': every part but the inferred one needs a fixed size\n"
            " 3 |     p, q = split[seq -> k, e](x)\n"
            "   |                 ^^^^^^^^^^^^^\n"
            "  help: declare the parts' sizes (axis a = 4), or leave one part new to take the rest",
        ),
        (
            "split[c -> a, e, f](x)",
            "m.ncd:3:17: error[E125]: split can infer one part's size, but 'e', 'f' are all new\n"
            " 3 |     p, q = split[c -> a, e, f](x)\n"
            "   |                 ^^^^^^^^^^^^^^",
        ),
        (
            "split[c -> a b, d](x)",
            "m.ncd:3:17: error[E137]: split into parts: split[c -> a, b, ...], one new axis per part\n"
            " 3 |     p, q = split[c -> a b, d](x)\n"
            "   |                 ^^^^^^^^^^^^^",
        ),
    ],
)
def test_diagnostics(expr: str, message: str) -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(BAD % expr, "m.ncd")
    assert str(err.value).strip() == message

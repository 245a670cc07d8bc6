"""`buffer[axes](init=..., persistent=...)`: non-learned state as torch.nn's register_buffer,
in torch (state_dict, parameters, gradients) and onnxruntime."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from torch import nn

import ncdl

SOURCE = """
axis batch, seq <= 16, model = 4
model Buffered(x: [batch, seq, model]) -> [batch, seq, model] {
    h = linear[model -> model](x) as proj
    scale = buffer[model](init=constant(2)) as scale
    table = buffer[seq, model](init=ones, persistent=false) as rope.table
    return h * scale + table
}
"""


class Reference(nn.Module):
    """The same module written with torch.nn: a persistent and a non-persistent buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.register_buffer("scale", torch.full((4,), 2.0))
        self.rope = nn.Module()
        self.rope.register_buffer("table", torch.ones(16, 4), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * self.scale + self.rope.table[: x.shape[1]]


@pytest.mark.parametrize("hierarchy", ["flat", "instances"])
def test_state_dict_holds_the_persistent_buffers_as_torch_nn_does(hierarchy: str) -> None:
    gm = ncdl.loads(SOURCE, "b.ncd").to_torch("Buffered", hierarchy=hierarchy)
    ref = Reference()
    assert list(gm.state_dict()) == list(ref.state_dict()) == ["scale", "proj.weight", "proj.bias"]
    assert sorted(n for n, _ in gm.named_buffers()) == sorted(n for n, _ in ref.named_buffers())
    assert [n for n, _ in gm.named_parameters()] == ["proj.weight", "proj.bias"]
    gm.load_state_dict(ref.state_dict(), strict=True)


@pytest.mark.parametrize("seq", [3, 9])
def test_torch_and_onnxruntime_match_the_reference(seq: int) -> None:
    program = ncdl.loads(SOURCE, "b.ncd")
    ref, gm = Reference(), program.to_torch("Buffered")
    with torch.no_grad():
        ref.scale.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5]))  # a loaded buffer, not its init
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, seq, 4, generator=torch.Generator().manual_seed(seq))
    with torch.no_grad():
        want = ref(x)
        torch.testing.assert_close(gm(x), want)
    session = ort.InferenceSession(program.to_onnx("Buffered", state_dict=gm.state_dict()).SerializeToString())
    (got,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), want)


def test_a_training_step_leaves_buffers_alone() -> None:
    gm = ncdl.loads(SOURCE, "b.ncd").to_torch("Buffered")
    before = {n: b.clone() for n, b in gm.named_buffers()}
    gm(torch.randn(2, 5, 4)).square().mean().backward()
    torch.optim.SGD(gm.parameters(), lr=0.1).step()
    assert all(not b.requires_grad for b in gm.buffers())
    for n, b in gm.named_buffers():
        torch.testing.assert_close(b, before[n], rtol=0, atol=0)


def test_a_random_buffer_that_is_not_saved_is_refused() -> None:
    source = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    return x + buffer[n](init=normal(0.02), persistent=false)\n}\n"
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(source, "m.ncd")
    assert str(err.value).strip() == (
        "m.ncd:3:31: error[E243]: a buffer that is not persistent never reaches the state_dict, so its values "
        "must follow from the program; init=normal(...) draws random ones\n"
        " 3 |     return x + buffer[n](init=normal(0.02), persistent=false)\n"
        "   |                               ^^^^^^^^^^^^\n"
        "  help: use zeros, ones or constant(value), or make it persistent"
    )

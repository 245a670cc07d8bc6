"""torch.nn's flat weights load into ncdl's axis-shaped ones and back, in torch and
ONNX, and from .safetensors files; dotted labels give torch.nn's names."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import ncdl
from ncdl.cli import main
from ncdl.ir.flat import is_flattening
from ncdl.runtime import Session
from ncdl.weights import load_file

SOURCE = """
axis batch, seq
axis model = 8, heads = 2, head = 4, vocab = 11, hidden = 6
model M(t: int[batch, seq] of vocab) -> [batch, seq, hidden] {
    x = embed[vocab -> heads head](t) as embeddings.word
    q = linear[heads head -> heads head](x) as encoder.layer.0.attention.self.query
    return linear[heads head -> hidden](relu(q)) as encoder.layer.0.output.dense
}
"""


class Reference(nn.Module):
    """The same computation written with torch.nn, under the same names."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.ModuleDict({"word": nn.Embedding(11, 8)})
        layer = nn.Module()
        layer.attention = nn.Module()
        layer.attention.self = nn.ModuleDict({"query": nn.Linear(8, 8)})
        layer.output = nn.ModuleDict({"dense": nn.Linear(8, 6)})
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList([layer])})

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        layer = self.encoder["layer"][0]
        q = layer.attention.self["query"](self.embeddings["word"](t))
        return layer.output["dense"](torch.relu(q))


@pytest.fixture(scope="module")
def ref() -> Reference:
    torch.manual_seed(0)
    module = Reference()
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(3)  # larger than the default init, so a mistake shows
    return module


def test_a_reference_state_dict_loads_strictly_by_its_own_names(ref: Reference) -> None:
    gm = ncdl.loads(SOURCE).to_torch()
    assert gm.state_dict()["encoder.layer.0.attention.self.query.weight"].shape == (2, 4, 2, 4)
    gm.load_state_dict(ref.state_dict(), strict=True)
    t = torch.randint(0, 11, (2, 5))
    torch.testing.assert_close(gm(t), ref(t))


def test_flat_weights_export_loads_back_into_the_reference(ref: Reference) -> None:
    program = ncdl.loads(SOURCE)
    gm = program.to_torch(flat_weights=True)
    gm.load_state_dict(ref.state_dict())
    shapes = {k: tuple(v.shape) for k, v in gm.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    other = Reference()
    other.load_state_dict(gm.state_dict(), strict=True)
    t = torch.randint(0, 11, (1, 3))
    torch.testing.assert_close(other(t), ref(t))
    again = copy.deepcopy(gm)  # the hooks travel with a copy
    assert tuple(again.state_dict()["embeddings.word.weight"].shape) == (11, 8)
    pickle.loads(pickle.dumps(gm))  # and do not keep the module from pickling


def test_a_reshape_that_is_not_a_flattening_is_refused(ref: Reference) -> None:
    gm = ncdl.loads(SOURCE).to_torch()
    state = dict(ref.state_dict())
    state["encoder.layer.0.output.dense.weight"] = state["encoder.layer.0.output.dense.weight"].reshape(8, 6)
    with pytest.raises(RuntimeError, match="size mismatch for encoder.layer.0.output.dense.weight"):
        gm.load_state_dict(state)
    assert is_flattening([6, 8], [6, 2, 4]) and not is_flattening([8, 6], [6, 2, 4])


def test_onnx_takes_flat_weights_from_a_safetensors_file(ref: Reference, tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "ref.safetensors"
    save_file(ref.state_dict(), str(path))
    state = load_file(path)
    assert sorted(state) == sorted(ref.state_dict())
    program = ncdl.loads(SOURCE)
    t = torch.randint(0, 11, (2, 7))
    got = Session(program.to_onnx(state_dict=state)).run({"t": t.numpy()})["output"]
    np.testing.assert_allclose(got, ref(t).detach().numpy(), rtol=1e-5, atol=1e-5)
    gm = program.to_torch()
    gm.load_state_dict(state, strict=True)
    torch.testing.assert_close(gm(t), ref(t))


def test_export_reads_safetensors_weights(ref: Reference, tmp_path) -> None:
    from safetensors.torch import save_file

    (tmp_path / "m.ncd").write_text(SOURCE)
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    args = ["export", str(tmp_path / "m.ncd"), "-o", str(tmp_path / "m.onnx"), "--weights"]
    assert main([*args, str(tmp_path / "w.safetensors")]) == 0
    t = torch.randint(0, 11, (1, 4))
    got = Session(str(tmp_path / "m.onnx")).run({"t": t.numpy()})["output"]
    np.testing.assert_allclose(got, ref(t).detach().numpy(), rtol=1e-5, atol=1e-5)
    (tmp_path / "junk.safetensors").write_bytes(b"not weights")
    assert main([*args, str(tmp_path / "junk.safetensors")]) == 1


def test_unit_dimensions_come_and_go_when_loading() -> None:
    """torch.nn keeps a class token as [1, 1, model]; ncdl's param[one, model] is [1, model]."""
    program = ncdl.loads(
        "axis batch\naxis one = 1, model = 4\n"
        "model T(x: [batch, one, model]) -> [batch, one, model] { return x + param[one, model]() as cls }\n"
    )
    gm = program.to_torch()
    value = torch.arange(4.0).reshape(1, 1, 4)
    gm.load_state_dict({"cls": value}, strict=True)
    torch.testing.assert_close(gm.get_parameter("cls"), value.reshape(1, 4))
    assert is_flattening([1, 1, 4], [1, 4]) and is_flattening([4], [1, 4, 1]) and not is_flattening([1, 2, 2], [4, 1])

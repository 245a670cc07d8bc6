"""architectures/moe.ncd against transformers' Mixtral sparse MoE block (random weights, no download)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")
mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")

SIZES = [(1, 2), (3, 7)]  # (batch, seq): two sizes of each free axis


def _reference() -> torch.nn.Module:
    """MixtralSparseMoeBlock at moe.ncd's sizes, with weights larger than its init so that mistakes show."""
    config = transformers.MixtralConfig(
        hidden_size=32, intermediate_size=48, num_local_experts=8, num_experts_per_tok=2
    )
    torch.manual_seed(0)
    ref = mixtral.MixtralSparseMoeBlock(config).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.5)
    return ref


def _inputs(batch: int, seq: int) -> torch.Tensor:
    return torch.randn(batch, seq, 32, generator=torch.Generator().manual_seed(batch * 10 + seq)) * 2


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("moe").to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("batch", "seq"), SIZES)
def test_torch_and_onnxruntime_match_mixtral(batch: int, seq: int) -> None:
    ref, program = _reference(), architectures.load("moe")
    gm = program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = _inputs(batch, seq)
    with torch.no_grad():
        want = ref(x).numpy()
        got = gm(x).numpy()
    assert relative_error(got, want) < 1e-5
    model = program.to_onnx(state_dict=gm.state_dict())
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


def test_negative_control_top_1_routing_does_not_match() -> None:
    source = architectures.path("moe").read_text()
    assert "choice = 2" in source
    program = ncdl.loads(source.replace("choice = 2", "choice = 1"), "moe_top1.ncd")
    ref, gm = _reference(), program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = _inputs(3, 7)
    with torch.no_grad():
        assert relative_error(gm(x).numpy(), ref(x).numpy()) > 1e-2

"""architectures/mamba.ncd against transformers' Mamba mixer, slow path (random weights, no download)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")
mamba = pytest.importorskip("transformers.models.mamba.modeling_mamba")

SIZES = [(1, 3), (2, 11)]  # (batch, seq): two sizes of each free axis


def _reference() -> torch.nn.Module:
    """MambaMixer at mamba.ncd's sizes, its weights drawn wider than its init so that mistakes show.

    A_log and the step size stay moderate: exp(A·dt) then lies well inside (0, 1), so each
    step both keeps and forgets part of the state and a wrong recurrence cannot hide.
    """
    config = transformers.MambaConfig(
        hidden_size=16,
        state_size=4,
        expand=2,
        conv_kernel=4,
        time_step_rank=4,
        use_bias=False,
        use_conv_bias=True,
        use_mambapy=False,
    )
    torch.manual_seed(0)
    ref = mamba.MambaMixer(config, layer_idx=0).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.normal_(0.0, 0.3 if name in ("A_log", "dt_proj.weight", "dt_proj.bias") else 0.5)
    return ref


def _inputs(batch: int, seq: int) -> torch.Tensor:
    return torch.randn(batch, seq, 16, generator=torch.Generator().manual_seed(batch * 10 + seq))


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("mamba").to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("batch", "seq"), SIZES)
def test_torch_and_onnxruntime_match_the_mamba_mixer(batch: int, seq: int) -> None:
    ref, program = _reference(), architectures.load("mamba")
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


@pytest.mark.parametrize(
    ("change", "by"),
    [("a = -exp(", "a = exp("), ("stop=-(kernel - 1)", "start=kernel - 1")],
    ids=["positive-decay", "anti-causal-conv"],
)
def test_negative_control_one_change_does_not_match(change: str, by: str) -> None:
    source = architectures.path("mamba").read_text()
    assert change in source
    program = ncdl.loads(source.replace(change, by), "mamba_changed.ncd")
    ref, gm = _reference(), program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = _inputs(2, 11)
    with torch.no_grad():
        assert relative_error(gm(x).numpy(), ref(x).numpy()) > 1e-2

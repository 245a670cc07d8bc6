"""architectures/whisper.ncd against transformers' Whisper encoder (random weights, no download).

transformers keeps the sinusoidal positions as a frozen ``embed_positions.weight`` filled with
sinusoids; whisper.ncd computes them from ``positions``. The tests show that the two tables are
equal, then load every other tensor of the reference's ``state_dict`` strictly.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")
whisper = pytest.importorskip("transformers.models.whisper.modeling_whisper")

TABLE = "embed_positions.weight"
SIZES = [(1, 6), (3, 9)]  # (batch, positions): the encoder takes exactly 2 * positions mel frames


def _reference(positions: int) -> torch.nn.Module:
    """WhisperEncoder at whisper.ncd's sizes for inputs of 2 * positions frames.

    Every learned weight is drawn wider than its init, the same for each length, so that
    mistakes show; the position table keeps the sinusoids transformers fills it with.
    """
    config = transformers.WhisperConfig(
        num_mel_bins=8,
        d_model=16,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        max_source_positions=positions,
    )
    ref = whisper.WhisperEncoder(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name != TABLE:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return ref


def _learned(ref: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The reference's state_dict without its frozen sinusoid table."""
    state = ref.state_dict()
    del state[TABLE]
    return state


def _inputs(batch: int, positions: int) -> torch.Tensor:
    return torch.randn(batch, 8, 2 * positions, generator=torch.Generator().manual_seed(batch * 10 + positions))


@pytest.mark.parametrize("positions", [6, 1500])
def test_the_computed_sinusoids_equal_the_reference_table(positions: int) -> None:
    table = architectures.load("whisper").circuit("Sinusoids").to_torch()
    ref = _reference(positions)
    with torch.no_grad():
        got = table(torch.zeros(positions, 16))
    torch.testing.assert_close(got, ref.embed_positions.weight, rtol=1e-6, atol=1e-6)
    assert not ref.embed_positions.weight.requires_grad


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(6), architectures.load("whisper").to_torch()
    gm.load_state_dict(_learned(ref), strict=True)
    learned = sum(p.numel() for name, p in ref.named_parameters() if name != TABLE)
    assert sum(p.numel() for p in gm.parameters()) == learned
    assert learned == sum(p.numel() for p in ref.parameters() if p.requires_grad)


@pytest.mark.parametrize(("batch", "positions"), SIZES)
def test_torch_and_onnxruntime_match_the_whisper_encoder(batch: int, positions: int) -> None:
    ref, program = _reference(positions), architectures.load("whisper")
    gm = program.to_torch()
    gm.load_state_dict(_learned(ref), strict=True)
    x = _inputs(batch, positions)
    with torch.no_grad():
        want = ref(x).last_hidden_state.numpy()
        got = gm(x).numpy()
    assert relative_error(got, want) < 1e-5
    model = program.to_onnx(state_dict=gm.state_dict())
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"input_features": x.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


def test_negative_control_swapped_sin_and_cos_do_not_match() -> None:
    source = architectures.path("whisper").read_text()
    assert "(sin(angle), cos(angle))" in source
    program = ncdl.loads(source.replace("(sin(angle), cos(angle))", "(cos(angle), sin(angle))"), "whisper_cos.ncd")
    ref, gm = _reference(9), program.to_torch()
    gm.load_state_dict(_learned(ref), strict=True)
    x = _inputs(3, 9)
    with torch.no_grad():
        assert relative_error(gm(x).numpy(), ref(x).last_hidden_state.numpy()) > 1e-2

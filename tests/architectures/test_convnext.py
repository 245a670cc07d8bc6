"""architectures/convnext.ncd against transformers' ConvNextModel (random weights, no download)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import image, image_model, relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")

SIZES = [(1, 32), (3, 64)]  # (batch, image side): two sizes of each free axis


def _reference() -> torch.nn.Module:
    """ConvNextModel at convnext.ncd's small sizes, with weights larger than its init so that mistakes show."""
    config = transformers.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 3, 1])
    torch.manual_seed(0)
    ref = transformers.ConvNextModel(config).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.5)
    return ref


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("convnext").to_torch("ConvNeXt")
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


def test_convnext_tiny_has_the_reference_parameter_count() -> None:
    ref = transformers.ConvNextModel(transformers.ConvNextConfig())
    program = architectures.load("convnext")
    assert ncdl.ir.param_count(program.graph("ConvNeXtTiny")) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("batch", "side"), SIZES)
def test_torch_and_onnxruntime_match_convnext(batch: int, side: int) -> None:
    ref, program = _reference(), image_model("convnext", "ConvNeXt", side)
    gm = program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = image(batch, side)
    with torch.no_grad():
        out = ref(x)
        want = [out.last_hidden_state.numpy(), out.pooler_output.numpy()]
        got = [t.numpy() for t in gm(x)]
    session = ort.InferenceSession(program.to_onnx(state_dict=ref.state_dict()).SerializeToString())
    onnx_got = session.run(None, {"image": x.numpy()})
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state", "pooler_output"]
    for ours, theirs, expected in zip(got, onnx_got, want, strict=True):
        assert ours.shape == expected.shape
        assert relative_error(ours, expected) < 1e-5
        assert relative_error(theirs, expected) < 1e-5


def test_negative_control_a_subtracted_residual_does_not_match() -> None:
    source = architectures.path("convnext").read_text()
    assert "return v + h * param" in source
    program = image_model("convnext", "ConvNeXt", 32, source.replace("return v + h * param", "return v - h * param"))
    ref, gm = _reference(), program.to_torch("At")
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = image(2, 32)
    with torch.no_grad():
        assert relative_error(gm(x)[0].numpy(), ref(x).last_hidden_state.numpy()) > 1e-2

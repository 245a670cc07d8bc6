"""architectures/efficientnet.ncd against transformers' EfficientNetModel (random weights, no download)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import image, image_model, relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")

SIZES = [(1, 32), (3, 64)]  # (batch, image side): two sizes of each free axis


def _config(width: float = 0.25, top: int = 320) -> transformers.EfficientNetConfig:
    """EfficientNet-B0's layout at a width coefficient (1.0 is B0 itself)."""
    return transformers.EfficientNetConfig(width_coefficient=width, depth_coefficient=1.0, hidden_dim=top)


def _reference() -> torch.nn.Module:
    """EfficientNetModel at efficientnet.ncd's small sizes, with weights and batch statistics
    larger than their init so that mistakes show."""
    ref = transformers.EfficientNetModel(_config()).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in list(ref.named_parameters()) + list(ref.named_buffers()):
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(0.5 + noise.abs())
            elif name.endswith(("norm.weight", "bn.weight", "batchnorm.weight")):
                t.copy_(1 + 0.2 * noise)
            else:
                t.copy_(0.2 * noise)  # ten times a bias's init scale, yet activations stay O(1)
    return ref


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("efficientnet").to_torch("EfficientNet")
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


def test_efficientnet_b0_has_the_reference_parameter_count() -> None:
    ref = transformers.EfficientNetModel(_config(1.0, 1280))
    program = architectures.load("efficientnet")
    assert ncdl.ir.param_count(program.graph("EfficientNetB0")) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("batch", "side"), SIZES)
def test_torch_and_onnxruntime_match_efficientnet(batch: int, side: int) -> None:
    ref, program = _reference(), image_model("efficientnet", "EfficientNet", side)
    gm = program.to_torch().eval()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = image(batch, side)
    with torch.no_grad():
        out = ref(x)
        want = [out.last_hidden_state.numpy(), out.pooler_output.numpy()]
        got = [t.numpy() for t in gm(x)]
    session = ort.InferenceSession(program.to_onnx(state_dict=ref.state_dict()).SerializeToString())
    onnx_got = session.run(None, {"image": x.numpy()})
    for ours, theirs, expected in zip(got, onnx_got, want, strict=True):
        assert ours.shape == expected.shape
        assert relative_error(ours, expected) < 1e-5
        assert relative_error(theirs, expected) < 1e-5


def test_negative_control_symmetric_padding_does_not_match() -> None:
    source = architectures.path("efficientnet").read_text()
    old = "lo: int = kernel // 2 - 1, hi: int = kernel // 2"
    assert old in source
    program = image_model(
        "efficientnet", "EfficientNet", 32, source.replace(old, "lo: int = kernel // 2, hi: int = kernel // 2 - 1")
    )
    ref, gm = _reference(), program.to_torch("At").eval()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = image(2, 32)
    with torch.no_grad():
        assert relative_error(gm(x)[0].numpy(), ref(x).last_hidden_state.numpy()) > 1e-2

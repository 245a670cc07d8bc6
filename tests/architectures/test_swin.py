"""architectures/swin.ncd against transformers' SwinModel (random weights, no download).

At 64x64 the last stage's grid is one window, so its second layer is not
shifted (as in the reference); at 128x128 every stage's second layer is.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from arch_inputs import image, image_model, relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")

SIZES = [(1, 64), (3, 128)]  # (batch, image side): two sizes of each free axis


def _reference(side: int) -> torch.nn.Module:
    """SwinModel at swin.ncd's small sizes, with weights larger than its init so that mistakes show."""
    config = transformers.SwinConfig(
        image_size=side, patch_size=2, embed_dim=16, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16], window_size=4
    )
    ref = transformers.SwinModel(config).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("relative_position_bias_table"):
                p.copy_(2.0 * noise)  # biases that decide where attention goes
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.2 * noise)  # ten times the init: larger, yet the features stay input-dependent
    return ref


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(64), architectures.load("swin").to_torch("Swin")
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


def test_swin_tiny_has_the_reference_parameter_count() -> None:
    ref = transformers.SwinModel(transformers.SwinConfig())
    program = architectures.load("swin")
    assert ncdl.ir.param_count(program.graph("SwinTiny")) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("batch", "side"), SIZES)
def test_torch_and_onnxruntime_match_swin(batch: int, side: int) -> None:
    ref, program = _reference(side), image_model("swin", "Swin", side)
    gm = program.to_torch()
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


CHANGES = {
    "without the shifted windows' mask": (
        "s = s + merge[ky kx -> key](merge[ty tx -> tok](float(apart) * -100))",
        "s = s",
    ),
    "with the relative positions reversed": (
        "dy = positions[ty](-positions[ky]()) + (ty - 1)",
        "dy = positions[ky](-positions[ty]()) + (ty - 1)",
    ),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_negative_controls_do_not_match(change: str) -> None:
    source = architectures.path("swin").read_text()
    old, new = CHANGES[change]
    assert old in source
    ref, gm = _reference(64), image_model("swin", "Swin", 64, source.replace(old, new)).to_torch("At")
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = image(2, 64)
    with torch.no_grad():
        assert relative_error(gm(x)[0].numpy(), ref(x).last_hidden_state.numpy()) > 1e-2

"""resnet.ncd and vit.ncd against their references, loaded by the references' own names.

ResNet-18's reference is torchvision's layout (``torch_refs.resnet18``: torchvision
itself is not installed); ViT's is transformers' ViTForImageClassification. Each
is checked at two image sizes (a model family of the bundled model) in torch and
onnxruntime, with a strict ``load_state_dict`` and equal parameter counts.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
import torch_refs as refs
from arch_inputs import image, image_model, relative_error

import ncdl
from ncdl import architectures

pytest.importorskip("transformers")


def _check(program: ncdl.Program, ref: torch.nn.Module, x: torch.Tensor) -> None:
    gm = program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == refs.count(ref)
    with torch.no_grad():
        want = ref.eval()(x).numpy()
        got = gm.eval()(x).numpy()
    assert relative_error(got, want) < 1e-5
    model = program.to_onnx(state_dict=ref.state_dict())
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"image": x.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


def _torchvision_resnet18() -> torch.nn.Module:
    return refs.randomize(refs.resnet18(), seed=1)


@pytest.mark.parametrize(("batch", "side"), [(1, 32), (3, 64)])
def test_resnet18_matches_torchvision_by_its_names(batch: int, side: int) -> None:
    _check(image_model("resnet", "ResNet18", side), _torchvision_resnet18(), image(batch, side))


def test_resnet_negative_control_a_missing_relu_does_not_match() -> None:
    convnets = architectures.path("convnets").read_text()
    assert convnets.count("return relu(h + v)") == 2
    changed = convnets.replace("return relu(h + v)", "return h + v", 1)
    resnet = architectures.path("resnet").read_text().replace('use "convnets.ncd"\n', changed)
    program = image_model("resnet", "ResNet18", 32, resnet)
    gm, ref, x = program.to_torch("At"), _torchvision_resnet18(), image(2, 32)
    gm.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_error(gm.eval()(x).numpy(), ref.eval()(x).numpy()) > 1e-2


def _vit_reference(side: int) -> torch.nn.Module:
    """transformers' ViT at vit.ncd's small sizes, weights larger than its init so that mistakes show."""
    torch.manual_seed(0)
    ref = refs.ViT(image=side, patch=4, d=32, heads=4, hidden=64, layers=2, classes=10)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.5)
    return ref


def _vit(side: int, source: str | None = None) -> ncdl.Program:
    return image_model("vit", "ViT", side, source, model=32, heads=4, hidden=64, layers=2)


@pytest.mark.parametrize(("batch", "side"), [(1, 16), (3, 24)])
def test_vit_matches_transformers_by_its_names(batch: int, side: int) -> None:
    _check(_vit(side), _vit_reference(side), image(batch, side))


def test_vit_negative_control_post_norm_does_not_match() -> None:
    vit = architectures.path("vit").read_text()
    pre = "x = x + ViTAttention(layernorm[model](x, eps=eps) as layernorm_before) as attention"
    assert pre in vit
    post = "x = layernorm[model](x + ViTAttention(x) as attention, eps=eps) as layernorm_before"
    program = _vit(16, vit.replace(pre, post))
    gm, ref, x = program.to_torch("At"), _vit_reference(16), image(2, 16)
    gm.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_error(gm(x).numpy(), ref.eval()(x).numpy()) > 1e-2

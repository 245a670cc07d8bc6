"""The one large model checked numerically: ResNet-50 against torchvision's layout."""

from __future__ import annotations

import torch
import torch_refs as refs

from ncdl import architectures


def test_resnet50_equals_the_torchvision_layout() -> None:
    ref = refs.randomize(refs.resnet50())
    gm = architectures.load("resnet").to_torch("ResNet50")
    gm.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(gm.eval()(x), ref.eval()(x), atol=1e-5, rtol=1e-5)

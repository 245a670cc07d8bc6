"""The torch.nn models the benchmarks compare ncdl against, and their ncdl twins.

The models are the tests' references (``tests/architectures/torch_refs.py``:
nanoGPT's GPT, torchvision's ResNet layout, transformers' ViT), one set for both, so what
is benchmarked is what is tested. ``ncdl_twin`` builds the ncdl module of the
same shape and copies a reference's weights into it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "architectures"))
from torch_refs import GPT, ViT, resnet18  # noqa: E402

import ncdl  # noqa: E402
from ncdl import architectures  # noqa: E402

__all__ = ["GPT", "ViT", "ViTB16", "ncdl_twin", "randomize_norms", "resnet18", "resnet_program"]


def ViTB16() -> ViT:  # noqa: N802 - named like the model it builds
    """ViT-B/16 (224 x 224 images, 1000 classes), transformers' implementation."""
    return ViT(image=224, patch=16, d=768, heads=12, hidden=3072, layers=12, classes=1000)


def randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm random affine weights and running statistics, as after training.

    Fresh ones are the identity, which exporters fold away entirely (a zero
    bias is dropped), so an untrained model would not show a real model's cost.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1 + torch.rand(m.running_var.shape, generator=gen))
    return module


# ---- the ncdl twins ---------------------------------------------------------------


def resnet_program(image: int) -> ncdl.Program:
    """``resnet.ncd`` with ``image`` x ``image`` inputs instead of 224 x 224."""
    path = architectures.path("resnet")
    text = path.read_text().replace("y = 224, x = 224", f"y = {image}, x = {image}")
    return ncdl.loads(text, str(path))


def ncdl_twin(reference: nn.Module, program: ncdl.Program, model: str) -> torch.fx.GraphModule:
    """ncdl's module for ``model`` holding ``reference``'s weights, loaded by their own names
    (the bundled models carry them: nanoGPT's, torchvision's, transformers')."""
    module = program.to_torch(model)
    module.load_state_dict(reference.state_dict(), strict=True)
    return module

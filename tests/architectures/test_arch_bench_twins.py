"""The benchmarks' ncdl twins (``benchmarks/torch_models.py``) load the shared references' weights and agree."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch_refs as refs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import torch_models  # noqa: E402

from ncdl import architectures  # noqa: E402


def test_the_benchmarks_use_the_test_references() -> None:
    assert torch_models.GPT is refs.GPT and torch_models.resnet18 is refs.resnet18 and torch_models.ViT is refs.ViT


def test_gpt_twin_matches_its_reference() -> None:
    ref = refs.randomize(refs.GPT(65, 128, 128, 4, 4)).eval()
    twin = torch_models.ncdl_twin(ref, architectures.load("gpt"), "GPT")
    x = torch.randint(0, 65, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(twin.eval()(x), ref(x), atol=1e-5, rtol=1e-5)


def test_resnet_twin_at_a_small_image_matches_its_reference() -> None:
    ref = torch_models.randomize_norms(refs.resnet18()).eval()
    twin = torch_models.ncdl_twin(ref, torch_models.resnet_program(32), "ResNet18").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), ref(x), atol=1e-4, rtol=1e-4)

"""Parameter counts: the published ones exactly; the small models equal their torch.nn twins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch_refs as refs
from torch import nn

from ncdl import architectures, ir


def _count(name: str, model: str) -> int:
    return ir.param_count(architectures.load(name).graph(model))


@pytest.mark.parametrize(
    ("name", "model", "published"),
    [
        ("resnet", "ResNet18", 11_689_512),
        ("resnet", "ResNet34", 21_797_672),
        ("resnet", "ResNet50", 25_557_032),
        ("gpt", "GPT2Small", 124_439_808),
        ("gpt", "GPT2Medium", 354_823_168),
        ("vit", "ViTB16", 86_567_656),
        ("llama", "Llama3_8B", 8_030_261_248),
        ("bert", "BertBase", 109_482_240),
    ],
)
def test_published_parameter_counts(name: str, model: str, published: int) -> None:
    assert _count(name, model) == published


TWINS = refs.TWINS


@pytest.mark.parametrize(("name", "model", "make"), TWINS, ids=[t[1] for t in TWINS])
def test_parameter_count_equals_the_torch_module(name: str, model: str, make: Callable[[], nn.Module]) -> None:
    assert _count(name, model) == refs.count(make())


def test_the_scaled_dot_product_attention_has_no_parameters() -> None:
    assert _count("mha", "ScaledDotProductAttention") == 0

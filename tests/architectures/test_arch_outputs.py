"""Bundled models compute what their torch.nn twins compute, with weights copied by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torch_refs as refs
from arch_inputs import sample_inputs
from torch import nn
from torch_refs import nanogpt, torch_mha

import ncdl
from ncdl import architectures
from ncdl.weights import load_torch_state_dict

TOL = {"atol": 1e-5, "rtol": 1e-5}


CASES: list[tuple[str, str, Callable[[], nn.Module], Any]] = [
    ("mlp", "MLP", refs.MLP, None),
    ("mlp", "ResidualMLP", refs.ResidualMLP, None),
    ("mha", "MultiHead", refs.PaperMHAModel, None),
    (
        "encoder",
        "PostNormEncoder",
        lambda: nn.TransformerEncoderLayer(128, 4, 512, batch_first=True),
        {**torch_mha("layer.self_attn", "self_attn"), "layer": ""},
    ),
    (
        "encoder",
        "PreNormEncoder",
        lambda: nn.TransformerEncoderLayer(128, 4, 512, batch_first=True, norm_first=True),
        {**torch_mha("layer.self_attn", "self_attn"), "layer": ""},
    ),
    ("gpt", "GPT", refs.GPT, nanogpt),
    ("vit", "ViT", refs.ViT, None),
    ("resnet", "ResNet18", refs.resnet18, None),
    ("identity_resnet", "IdentityResNet", refs.IdentityResNet, None),
    ("unet", "UNetSmall", refs.UNet, None),
    ("cnn1d", "TextCNN", refs.TextCNN, None),
    ("visual_attention", "VisualAttention", refs.VisualAttention, None),
]


def _twins(name: str, model: str, make: Callable[[], nn.Module], mapping: Any) -> tuple[nn.Module, nn.Module]:
    ref = refs.randomize(make())
    gm = architectures.load(name).to_torch(model)
    unused = load_torch_state_dict(gm, ref.state_dict(), mapping)
    assert unused == [], f"source tensors never loaded: {unused}"
    return gm, ref


@pytest.mark.parametrize(("name", "model", "make", "mapping"), CASES, ids=[c[1] for c in CASES])
def test_output_equals_the_torch_module(name: str, model: str, make: Callable[[], nn.Module], mapping: Any) -> None:
    gm, ref = _twins(name, model, make, mapping)
    inputs = sample_inputs(architectures.load(name).graph(model))
    with torch.no_grad():
        torch.testing.assert_close(gm.eval()(*inputs), ref.eval()(*inputs), **TOL)


def test_scaled_dot_product_attention_equals_torchs() -> None:
    program = architectures.load("mha")
    q, k, v = sample_inputs(program.graph("ScaledDotProductAttention"))
    out = program.to_torch("ScaledDotProductAttention")(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)


def test_batch_norm_trains_like_torch() -> None:
    gm, ref = _twins("identity_resnet", "IdentityResNet", refs.IdentityResNet, None)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(gm.train()(x), ref.train()(x), **TOL)
    torch.testing.assert_close(gm.get_buffer("bn.running_mean"), ref.bn.running_mean, **TOL)
    torch.testing.assert_close(gm.get_buffer("stage2.first.bn1.running_var"), ref.stage2.first.bn1.running_var, **TOL)


def test_gradients_agree_for_gpt() -> None:
    gm, ref = _twins("gpt", "GPT", refs.GPT, nanogpt)
    tokens = torch.randint(0, 65, (2, 12))
    gm(tokens).square().sum().backward()
    ref(tokens).square().sum().backward()
    torch.testing.assert_close(gm.get_parameter("wte.weight").grad, ref.transformer.wte.weight.grad, **TOL)
    fused = ref.transformer.h[1].attn.c_attn.weight.grad
    torch.testing.assert_close(gm.get_parameter("h.1.attn.k.weight").grad.flatten(0, 1), fused.chunk(3)[1], **TOL)


NAMED = [c for c in CASES if c[3] is None]


@pytest.mark.parametrize(("name", "model", "make", "mapping"), NAMED, ids=[c[1] for c in NAMED])
def test_state_dict_names_are_the_torch_modules(
    name: str, model: str, make: Callable[[], nn.Module], mapping: Any
) -> None:
    """Where no fused tensor forces a mapping, the names are the reference's own."""
    ours = architectures.load(name).to_torch(model).state_dict()
    assert sorted(ours) == sorted(make().state_dict())


ATTENTION = """
use "attention.ncd"
axis batch
axis seq <= 64
axis model = 32, heads = 4
model Self(x: [batch, seq, model]) -> [batch, seq, model] { return SelfAttention(x) as attn }
model Causal(x: [batch, seq, model]) -> [batch, seq, model] { return CausalSelfAttention(x) as attn }
"""


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_torch_multihead_attention(causal: bool) -> None:
    mha = refs.randomize(nn.MultiheadAttention(32, 4, batch_first=True))
    gm = ncdl.loads(ATTENTION).to_torch("Causal" if causal else "Self")
    mapping = {**torch_mha("attn", ""), "attn.c_proj": "out_proj"}
    assert load_torch_state_dict(gm, mha.state_dict(), mapping) == []
    x = torch.randn(3, 11, 32)
    mask = torch.ones(11, 11, dtype=torch.bool).triu(1) if causal else None
    expected = mha(x, x, x, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(gm(x), expected, **TOL)

"""Bundled models compute what their torch.nn twins compute, with the twins' state dicts loaded as they are
(``load_state_dict(strict=True)``, no mapping: the bundled models carry the references' own names)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
import torch_refs as refs
from arch_inputs import sample_inputs
from torch import nn

import ncdl
from ncdl import architectures

TOL = {"atol": 1e-5, "rtol": 1e-5}


# the twins, less the two largest (ResNet50 and the full U-Net: their counts are tested, outputs cost minutes)
CASES = [twin for twin in refs.TWINS if twin[1] not in ("ResNet50", "UNet")]


def _twins(name: str, model: str, make: Callable[[], nn.Module]) -> tuple[nn.Module, nn.Module]:
    ref = refs.randomize(make())
    gm = architectures.load(name).to_torch(model)
    gm.load_state_dict(ref.state_dict(), strict=True)
    return gm, ref


@pytest.mark.parametrize(("name", "model", "make"), CASES, ids=[c[1] for c in CASES])
def test_output_equals_the_torch_module(name: str, model: str, make: Callable[[], nn.Module]) -> None:
    gm, ref = _twins(name, model, make)
    inputs = sample_inputs(architectures.load(name).graph(model))
    with torch.no_grad():
        torch.testing.assert_close(gm.eval()(*inputs), ref.eval()(*inputs), **TOL)


@pytest.mark.parametrize(("name", "model", "make"), CASES, ids=[c[1] for c in CASES])
def test_state_dict_names_are_the_torch_modules(name: str, model: str, make: Callable[[], nn.Module]) -> None:
    ours = architectures.load(name).to_torch(model).state_dict()
    assert sorted(ours) == sorted(make().state_dict())


def test_scaled_dot_product_attention_equals_torchs() -> None:
    program = architectures.load("mha")
    q, k, v = sample_inputs(program.graph("ScaledDotProductAttention"))
    out = program.to_torch("ScaledDotProductAttention")(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)


def test_batch_norm_trains_like_torch() -> None:
    gm, ref = _twins("identity_resnet", "IdentityResNet", refs.IdentityResNet)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(gm.train()(x), ref.train()(x), **TOL)
    torch.testing.assert_close(gm.get_buffer("bn.running_mean"), ref.bn.running_mean, **TOL)
    torch.testing.assert_close(gm.get_buffer("stage2.first.bn1.running_var"), ref.stage2.first.bn1.running_var, **TOL)


def test_gradients_agree_for_gpt() -> None:
    gm, ref = _twins("gpt", "GPT", refs.GPT)
    tokens = torch.randint(0, 65, (2, 12))
    gm(tokens).square().sum().backward()
    ref(tokens).square().sum().backward()
    for name in ("transformer.wte.weight", "transformer.wpe.weight", "transformer.h.1.attn.c_attn.weight"):
        ours, theirs = gm.get_parameter(name).grad, ref.get_parameter(name).grad
        torch.testing.assert_close(ours.reshape(theirs.shape), theirs, **TOL)


def test_negative_control_gpt_with_q_and_k_swapped_in_c_attn_does_not_match() -> None:
    """The three thirds of the fused c_attn are q, k, v in that order: swapped, the outputs differ."""
    gm, ref = _twins("gpt", "GPT", refs.GPT)
    sd = ref.state_dict()
    for key in ("weight", "bias"):
        q, k, v = sd[f"transformer.h.0.attn.c_attn.{key}"].chunk(3)
        sd[f"transformer.h.0.attn.c_attn.{key}"] = torch.cat([k, q, v])
    gm.load_state_dict(sd, strict=True)
    tokens = torch.randint(0, 65, (2, 12))
    with torch.no_grad():
        assert (gm(tokens) - ref(tokens)).abs().max() > 1e-2


ATTENTION = """
use "attention.ncd"
axis batch
axis seq <= 64
axis model = 32, heads = 4
model Self(x: [batch, seq, model]) -> [batch, seq, model] { return SelfAttention(x) as attn }
model Causal(x: [batch, seq, model]) -> [batch, seq, model] { return CausalSelfAttention(x) as attn }
"""


def _holding(attn: nn.Module) -> nn.Module:
    """A torch module with ``attn`` as its submodule ``attn`` (the label the ncdl models give it)."""
    holder = nn.Module()
    holder.attn = attn
    return holder


def test_self_attention_loads_and_equals_torch_multihead_attention() -> None:
    mha = refs.randomize(nn.MultiheadAttention(32, 4, batch_first=True))
    gm = ncdl.loads(ATTENTION).to_torch("Self")
    gm.load_state_dict(_holding(mha).state_dict(), strict=True)
    x = torch.randn(3, 11, 32)
    torch.testing.assert_close(gm(x), mha(x, x, x, need_weights=False)[0], **TOL)


def test_causal_self_attention_loads_and_equals_nanogpts() -> None:
    attn = refs.randomize(refs.CausalSelfAttention(32, 4))
    gm = ncdl.loads(ATTENTION).to_torch("Causal")
    gm.load_state_dict(_holding(attn).state_dict(), strict=True)
    x = torch.randn(3, 11, 32)
    torch.testing.assert_close(gm(x), attn(x), **TOL)

"""Activation checkpointing by unit level: same gradients, fewer saved activations."""

from __future__ import annotations

import pytest
import torch

from ncdl import architectures
from ncdl.torch_utils import checkpoint, units


def _gpt(hierarchy: str = "instances") -> torch.fx.GraphModule:
    torch.manual_seed(0)
    return architectures.load("gpt").to_torch("GPT", hierarchy=hierarchy)


def _saved_bytes(gm: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = gm(x).logsumexp(-1).mean()
    return loss, total


def test_levels_name_the_units() -> None:
    gm = _gpt()
    assert units(gm, 1) == ["transformer.h.0", "transformer.h.1", "transformer.h.2", "transformer.h.3"]
    assert units(gm, 2)[:2] == ["transformer.h.0.attn", "transformer.h.0.mlp"]


def test_checkpointing_keeps_gradients_and_saves_less() -> None:
    x = torch.randint(0, 65, (2, 32))
    plain, wrapped = _gpt(), _gpt()
    assert checkpoint(wrapped, level=1) == [f"transformer.h.{i}" for i in range(4)]
    loss, kept = _saved_bytes(plain, x)
    loss_ck, kept_ck = _saved_bytes(wrapped, x)
    assert kept_ck < kept / 2
    loss.backward()
    loss_ck.backward()
    torch.testing.assert_close(loss_ck, loss, rtol=0, atol=0)
    assert list(wrapped.state_dict()) == list(plain.state_dict())
    for (name, p), (_, q) in zip(plain.named_parameters(), wrapped.named_parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=1e-7, msg=name)


def test_a_flat_module_has_nothing_to_checkpoint() -> None:
    with pytest.raises(ValueError, match="no submodule at level 1 to checkpoint; lower with hierarchy='instances'"):
        checkpoint(_gpt("flat"))

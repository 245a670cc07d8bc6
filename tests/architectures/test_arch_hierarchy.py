"""Every bundled model lowers to the same module flat and hierarchical: names, state_dict, outputs, gradients."""

from __future__ import annotations

import pytest
import torch
from arch_inputs import LARGE, outputs, sample_inputs

from ncdl import architectures

MODELS = [
    (name, model)
    for name in architectures.list_architectures()
    for model in architectures.load(name).models
    if model not in LARGE
]


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[m for _, m in MODELS])
@pytest.mark.parametrize("hierarchy", ["instances", 1])
def test_flat_and_hierarchical_modules_agree(name: str, model: str, hierarchy: str | int) -> None:
    program = architectures.load(name)
    torch.manual_seed(0)
    flat = program.to_torch(model, hierarchy="flat")
    torch.manual_seed(0)
    nested = program.to_torch(model, hierarchy=hierarchy)
    assert list(nested.state_dict()) == list(flat.state_dict())
    assert [n for n, _ in nested.named_parameters()] == [n for n, _ in flat.named_parameters()]
    for key, value in flat.state_dict().items():
        torch.testing.assert_close(nested.state_dict()[key], value, rtol=0, atol=0)
    inputs = sample_inputs(program.graph(model))
    for module in (flat, nested):
        torch.manual_seed(1)  # the same dropout masks
        loss = sum(out.square().mean() for out in outputs(module(*inputs)))
        if loss.requires_grad:  # a model without parameters has nothing to differentiate
            loss.backward()
    torch.manual_seed(1)
    with torch.no_grad():
        torch.testing.assert_close(outputs(nested.eval()(*inputs)), outputs(flat.eval()(*inputs)), rtol=0, atol=0)
    for (key, p), (_, q) in zip(flat.named_parameters(), nested.named_parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), key
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=1e-7, msg=key)

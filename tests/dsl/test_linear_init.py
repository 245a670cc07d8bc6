"""`linear[...](x, init=...)` sets both tensors' initialisation (adaLN-Zero starts at zero)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import numpy_helper

import ncdl

H = "axis batch, model = 8, out = 4\n"


def _program(option: str) -> ncdl.Program:
    return ncdl.loads(
        H + f"model L(x: [batch, model]) -> [batch, out] {{ return linear[model -> out](x{option}) as g }}\n"
    )


def test_init_zeros_makes_weight_and_bias_zero_in_both_backends() -> None:
    program = _program(", init=zeros")
    gm = program.to_torch()
    assert gm.g.weight.abs().sum().item() == 0 and gm.g.bias.abs().sum().item() == 0
    assert all(not numpy_helper.to_array(t).any() for t in program.to_onnx().graph.initializer)


def test_without_init_linear_keeps_torch_nns_uniform_bound() -> None:
    torch.manual_seed(0)
    gm = _program("").to_torch()
    bound = 1 / np.sqrt(8)
    assert 0 < gm.g.weight.abs().max().item() <= bound and gm.g.bias.abs().max().item() <= bound


def test_init_normal_is_honoured() -> None:
    torch.manual_seed(0)
    weight = _program(", init=normal(3.0, 0.01)").to_torch().g.weight
    assert weight.mean().item() == pytest.approx(3.0, abs=0.01)


def test_an_unknown_init_is_refused() -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        _program(", init=glorot")
    assert str(err.value).splitlines()[0] == (
        "<string>:2:82: error[E136]: init takes normal(std), normal(mean, std), uniform(low, high), "
        "constant(value), zeros or ones"
    )

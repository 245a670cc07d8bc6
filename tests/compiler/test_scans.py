"""``cumsum`` and ``scan``: running computations along an axis, in torch and in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx_helpers import op_types, session

import ncdl
from ncdl.compiler.fx.runtime import linear_scan

SCAN = """
axis batch, t, d = 3, n = 4
model M(a: [batch, t, d, n], b: [batch, t, d]) -> [batch, d, n, t] { return scan[t](a, b) as h }
"""

CUMSUM = """
axis batch, t, d = 3
model M(x: [batch, t, d]) -> [batch, d, t] { return cumsum[t](x) }
"""


def _sequential(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The recurrence step by step along dim 1 (``a`` is [batch, t, d, n], ``b`` is [batch, t, d])."""
    h = torch.zeros(a.shape[0], a.shape[2], a.shape[3], dtype=a.dtype)
    steps = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t, :, None]
        steps.append(h)
    return torch.stack(steps, dim=-1)


def _inputs(length: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(length)
    a = torch.rand(2, length, 3, 4, generator=gen) * 1.2 - 0.1  # decays around 1, some negative
    b = torch.randn(2, length, 3, generator=gen) * 3
    return a, b


@pytest.mark.parametrize("length", [1, 2, 5, 8, 13])
def test_scan_matches_the_step_by_step_recurrence(length: int) -> None:
    gm = ncdl.loads(SCAN).to_torch()
    a, b = _inputs(length)
    torch.testing.assert_close(gm(a, b), _sequential(a, b), rtol=1e-5, atol=1e-5)


def test_scan_gradients_match_the_step_by_step_recurrence() -> None:
    gm = ncdl.loads(SCAN).to_torch()
    a, b = _inputs(11)
    weights = torch.randn(2, 3, 4, 11)
    grads = []
    for fn in (gm, _sequential):
        a_, b_ = a.clone().requires_grad_(), b.clone().requires_grad_()
        (fn(a_, b_) * weights).sum().backward()
        grads.append((a_.grad, b_.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_linear_scan_with_zero_decays_restarts() -> None:
    a = torch.tensor([2.0, 0.0, 3.0, 0.0, 0.5])
    b = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])
    assert linear_scan(a, b, 0).tolist() == [1.0, 1.0, 4.0, 1.0, 1.5]


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("length", [1, 6, 9])
def test_scan_in_onnxruntime_is_one_scan_op_matching_torch(length: int, opset: int) -> None:
    program = ncdl.loads(SCAN)
    model = program.to_onnx(opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert op_types(model).count("Scan") == 1
    a, b = _inputs(length)
    (got,) = session(model).run(None, {"a": a.numpy(), "b": b.numpy()})
    np.testing.assert_allclose(got, _sequential(a, b).numpy(), rtol=1e-5, atol=1e-5)


def test_one_model_runs_at_two_lengths_in_onnxruntime() -> None:
    sess = session(ncdl.loads(SCAN).to_onnx())
    for length in (3, 10):
        a, b = _inputs(length)
        (got,) = sess.run(None, {"a": a.numpy(), "b": b.numpy()})
        np.testing.assert_allclose(got, _sequential(a, b).numpy(), rtol=1e-5, atol=1e-5)


def test_cumsum_matches_torch_cumsum_in_torch_and_onnxruntime() -> None:
    program = ncdl.loads(CUMSUM)
    x = torch.randn(2, 7, 3)
    want = torch.cumsum(x, 1).permute(0, 2, 1)
    torch.testing.assert_close(program.to_torch()(x), want)
    model = program.to_onnx()
    assert "CumSum" in op_types(model)
    (got,) = session(model).run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_scan_needs_its_axis_on_both_inputs() -> None:
    source = "axis b, t, d = 2\nmodel M(a: [b, t, d], c: [b, d]) -> [b, t, d] { return scan[t](a, c) }"
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(source, "s.ncd")
    assert str(err.value) == (
        "s.ncd:2:60: error[E121]: 'c' has axes [b, d]; scan[...] needs 't'\n"
        " 2 | model M(a: [b, t, d], c: [b, d]) -> [b, t, d] { return scan[t](a, c) }\n"
        "   |                                                            ^^^\n"
        "  help: the value's axes are [b, d]"
    )


def test_scan_inputs_must_nest() -> None:
    source = "axis t, d = 2, n = 3\nmodel M(a: [t, d], c: [t, n]) -> [t, d, n] { return scan[t](a, c) }"
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(source, "s.ncd")
    assert str(err.value) == (
        "s.ncd:2:53: error[E120]: scan inputs have axes [t, d] and [t, n]\n"
        " 2 | model M(a: [t, d], c: [t, n]) -> [t, d, n] { return scan[t](a, c) }\n"
        "   |                                                     ^^^^^^^^^^^^^\n"
        "  help: 'd' only on the first, 'n' only on the second; one input's axes must include the other's"
    )

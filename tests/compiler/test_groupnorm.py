"""``groupnorm``: torch.nn.GroupNorm's semantics in torch and in onnxruntime, at every layout and opset."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx_helpers import op_types, session

import ncdl

CHANNELS_FIRST = """
axis batch, c = 6, y, x
model M(v: [batch, c, y, x]) -> [batch, c, y, x] { return groupnorm[c, y, x](v, groups=3) as gn }
"""

CHANNELS_LAST = """
axis batch, seq, c = 6
model M(v: [batch, seq, c]) -> [batch, seq, c] { return groupnorm[c, seq](v, groups=2, eps=1e-3) as gn }
"""

TWO_BATCH_AXES_NO_AFFINE = """
axis batch, t = 3, c = 4, y
model M(v: [batch, t, y, c]) -> [batch, t, y, c] { return groupnorm[c, y](v, groups=4, affine=false) }
"""

NO_BATCH_AXIS = """
axis c = 4, y = 5
model M(v: [c, y]) -> [c, y] { return groupnorm[c, y](v, groups=2) as gn }
"""


def _reference(source: str) -> tuple[torch.nn.GroupNorm, list[int], str]:
    """The nn.GroupNorm the program means, the permutation to its [N, C, *] layout, and the module path."""
    if source is CHANNELS_FIRST:
        return torch.nn.GroupNorm(3, 6), [0, 1, 2, 3], "gn"
    if source is CHANNELS_LAST:
        return torch.nn.GroupNorm(2, 6, eps=1e-3), [0, 2, 1], "gn"
    if source is NO_BATCH_AXIS:
        return torch.nn.GroupNorm(2, 4), [0, 1], "gn"
    return torch.nn.GroupNorm(4, 4, affine=False), [0, 1, 3, 2], ""


CASES = {
    "channels_first": (CHANNELS_FIRST, (2, 6, 5, 4)),
    "channels_last": (CHANNELS_LAST, (2, 7, 6)),
    "two_batch_axes_no_affine": (TWO_BATCH_AXES_NO_AFFINE, (2, 3, 5, 4)),
    "no_batch_axis": (NO_BATCH_AXIS, (4, 5)),
}


def _setup(case: str) -> tuple[ncdl.Program, torch.nn.Module, torch.Tensor, torch.Tensor]:
    source, shape = CASES[case]
    program = ncdl.loads(source)
    gm = program.to_torch()
    ref, perm, path = _reference(source)
    torch.manual_seed(0)
    if ref.affine:
        with torch.no_grad():
            ref.weight.normal_(1.0, 0.5)
            ref.bias.normal_(0.0, 0.5)
        gm.load_state_dict({f"{path}.weight": ref.weight.detach(), f"{path}.bias": ref.bias.detach()})
    v = torch.randn(*shape) * 3 + 1
    if case == "two_batch_axes_no_affine":
        want = ref(v.permute(0, 1, 3, 2).flatten(0, 1)).unflatten(0, (2, 3)).permute(0, 1, 3, 2)
    elif case == "no_batch_axis":
        want = ref(v.unsqueeze(0)).squeeze(0)
    else:
        inverse = np.argsort(perm).tolist()
        want = ref(v.permute(*perm)).permute(*inverse)
    return program, gm, v, want.detach()


@pytest.mark.parametrize("case", sorted(CASES))
def test_groupnorm_matches_torch_nn_groupnorm(case: str) -> None:
    _, gm, v, want = _setup(case)
    got = gm(v)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    if case != "two_batch_axes_no_affine":
        got.sum().backward()
        assert all(p.grad is not None for p in gm.parameters())


@pytest.mark.parametrize("opset", [17, 20, 21, 23])
@pytest.mark.parametrize("case", sorted(CASES))
def test_groupnorm_in_onnxruntime_matches_torch(case: str, opset: int) -> None:
    program, gm, v, want = _setup(case)
    model = program.to_onnx(state_dict=gm.state_dict(), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert "GroupNormalization" not in op_types(model)
    (got,) = session(model).run(None, {"v": v.numpy()})
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [17, 21, 23])
def test_groupnorm_keeps_its_digits_on_a_large_mean_with_a_small_spread(opset: int) -> None:
    """Found by the generator campaign (seeds 22946, 26486): onnxruntime's GroupNormalization takes the
    variance as E[x^2] - E[x]^2 and was 1e-3 off on such groups; the centred decomposition is not."""
    program = ncdl.loads(CHANNELS_FIRST, "gn.ncd")
    gm = program.to_torch()
    v = 100 + 0.1 * torch.randn(2, 6, 3, 4, generator=torch.Generator().manual_seed(0))
    want = torch.nn.functional.group_norm(v.double(), 3, eps=1e-5)
    model = program.to_onnx(state_dict=gm.state_dict(), opset=opset)
    (got,) = session(model).run(None, {"v": v.numpy()})
    torch.testing.assert_close(gm(v).double(), want, rtol=0, atol=5e-4)
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=5e-4)


def test_groupnorm_parameters_are_named_like_torch_nn() -> None:
    gm = ncdl.loads(CHANNELS_FIRST).to_torch()
    assert {k: tuple(v.shape) for k, v in gm.state_dict().items()} == {"gn.weight": (6,), "gn.bias": (6,)}


def test_groupnorm_needs_groups_that_divide_the_channels() -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads("axis b, c = 6\nmodel M(v: [b, c]) -> [b, c] { return groupnorm[c](v, groups=4) }", "g.ncd")
    assert str(err.value) == (
        "g.ncd:2:62: error[E136]: groups=4 does not divide 'c' (size 6)\n"
        " 2 | model M(v: [b, c]) -> [b, c] { return groupnorm[c](v, groups=4) }\n"
        "   |                                                              ^\n"
        "  help: choose a divisor of 6"
    )


def test_groupnorm_needs_groups() -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads("axis b, c = 6\nmodel M(v: [b, c]) -> [b, c] { return groupnorm[c](v) }", "g.ncd")
    assert str(err.value) == (
        "g.ncd:2:39: error[E139]: 'groupnorm' needs option 'groups'\n"
        " 2 | model M(v: [b, c]) -> [b, c] { return groupnorm[c](v) }\n"
        "   |                                       ^^^^^^^^^^^^^^^\n"
        "  help: e.g. groups=32"
    )

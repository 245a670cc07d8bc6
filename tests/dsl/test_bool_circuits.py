"""Boolean masks through circuits: a `bool[...]` argument or result, `rename` of a mask,
dotted labels between repeated circuit instances (found writing bert.ncd)."""

from __future__ import annotations

import pytest
import torch

import ncdl
from ncdl.report import signature

SOURCE = """
axis batch, seq, key ~ seq, model = 8

circuit Pad(x: [seq, model], keep: bool[key]) -> [seq, model] {
    s = mask[key](contract[model](x, rename[seq -> key](x)), keep)
    return layernorm[model](x + contract[key](softmax[key](s), rename[seq -> key](x))) as out.norm
}

circuit Ends(x: [seq]) -> bool[seq] {
    return x > 0
}

model Masked(x: [batch, seq, model], attention_mask: bool[batch, seq]) -> [batch, seq, model] {
    keep = rename[seq -> key](attention_mask)
    repeat 2 as layer { x = Pad(x, keep) }
    return where(Ends(sum[model](x)), x, 0)
}
"""


def test_a_boolean_argument_result_and_renamed_mask_check() -> None:
    program = ncdl.loads(SOURCE, "masked.ncd")
    assert signature(program.graph("Masked")) == (
        "Masked(x: [batch, seq, model], attention_mask: bool[batch, seq]) -> [batch, seq, model]"
    )


def test_a_float_passed_as_a_boolean_argument_is_refused() -> None:
    bad = SOURCE.replace("x = Pad(x, keep)", "x = Pad(x, float(keep))")
    with pytest.raises(ncdl.NcdlError, match=r"E146\]: argument 'keep' of 'Pad' must be a boolean tensor"):
        ncdl.loads(bad, "masked.ncd")


def test_a_circuit_returning_floats_for_booleans_is_refused() -> None:
    bad = SOURCE.replace("return x > 0", "return x")
    with pytest.raises(ncdl.NcdlError, match=r"E146\]: circuit 'Ends' must return a boolean tensor"):
        ncdl.loads(bad, "masked.ncd")


@pytest.mark.parametrize("hierarchy", ["flat", "instances"])
def test_repeated_instances_with_dotted_labels_compile(hierarchy: str) -> None:
    program = ncdl.loads(SOURCE, "masked.ncd")
    torch.manual_seed(0)
    gm = program.to_torch("Masked", hierarchy=hierarchy)
    x, keep = torch.randn(2, 5, 8), torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = gm(x, keep)
    assert out.shape == (2, 5, 8) and torch.isfinite(out).all()
    changed = x.clone()
    changed[1, 3:] = 100.0  # padded positions: no influence on the kept ones
    torch.testing.assert_close(gm(changed, keep)[1, :3], out[1, :3])

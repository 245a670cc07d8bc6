"""One test per bug the generator campaign (tools/campaign.py) found, each with
the minimal program, pinned to the fixed behaviour."""

from __future__ import annotations

import pytest
from ncd_fuzz import assert_parity

import ncdl


@pytest.mark.parametrize("opset", [17, 20, 23])
def test_linear_upsample_between_transposes_loads_in_onnxruntime(opset: int) -> None:
    # was: ModelLoadError "'Linear' mode only supports: ... 4-D inputs with the corresponding
    # outermost 2 scale values being 1 ..." (campaign seeds 828, 1037): onnxruntime's transpose
    # optimizer moved the Transposes around the Resizes into them, permuting the scales
    program = ncdl.loads(
        """axis batch, c = 2, a = 3, y, x = 5
model M(img: [batch, c, y, x]) -> [a, s4, s3, batch] {
    h = conv[c -> a, y -> s0](img, kernel=2, stride=2, dilation=2)
    h = upsample[s0 -> s1, x -> s2](h, scale=2, mode="linear")
    return upsample[s1 -> s3, s2 -> s4](h, scale=2, mode="nearest")
}
"""
    )
    for free in (5, 8):
        assert_parity(program, opset=opset, free=free)

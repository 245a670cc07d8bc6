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


def test_attention_on_values_of_unknown_width_loads_in_onnxruntime() -> None:
    # was: ModelLoadError "Node (linear/MatMul) ... Incompatible dimensions for matrix
    # multiplication" at opset 23 (campaign seed 8087): onnxruntime inferred a wrong width for
    # a 3-D Attention fed by a gather, and the linear after it failed its shape check
    program = ncdl.loads(
        """axis batch, seq <= 6, key ~ seq, p = 3
model M(x: [batch, seq, p]) -> [batch, seq, t] {
    w, top = topk[p -> t](x, k=2)
    v = gather[p](x, top) * w
    k = rename[seq -> key](v)
    s = contract[t](v, k) / sqrt(t)
    return linear[t -> t](contract[key](softmax[key](causal[seq, key](s)), k))
}
"""
    )
    for free in (3, 5):
        assert_parity(program, opset=23, free=free)

"""Weights are written straight into the model's initializers: same names, dtypes, shapes and values."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

import ncdl

SOURCE = """\
axis b, c = 3, d = 4, y = 5, x = 5
model M(image: [b, c, y, x]) -> [b, d, y, x] {
    return image -> conv[c -> d, y -> y, x -> x](kernel=3, padding=1) as conv -> batchnorm[d] as bn
}
"""


def test_initializers_hold_the_state_dict() -> None:
    program = ncdl.loads(SOURCE)
    module = program.to_torch()
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    model = program.to_onnx(state_dict=module.state_dict())
    onnx.checker.check_model(model, full_check=True)
    got = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert sorted(got) == sorted(k for k in state if k != "bn.num_batches_tracked")  # unused at inference
    for name, array in got.items():
        assert array.dtype == state[name].dtype and array.shape == state[name].shape, name
        np.testing.assert_array_equal(array, state[name])

"""Regressions for what a new user met in the first hour (issue 13): each
was accepted silently or answered with a bare or misleading message."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

import ncdl
from ncdl.compiler.fx.runtime import InputShapeError


def test_a_derived_axis_name_never_collides_with_the_users_own() -> None:
    source = (
        "axis batch, c = 4\n"
        "circuit Twice[a](x: [a]) -> [(2*a)] { return concat[a -> (2*a)](x, x) }\n"
        "model M(x: [batch, c]) -> [batch, (2*c+1)] {\n"
        "    z = Twice[a=(c+1)](linear[c -> (c+1)](x))\n"
        "    return linear[(2*(c+1)) -> (2*c+1)](z) as out\n}\n"
    )
    g = ncdl.loads(source, "m.ncd").graph()
    assert g.graph["axes"]["2*c+1"].fixed == 9
    assert g.graph["axes"]["2*(c+1)"].fixed == 10
    (out,) = [p for _, d in g.nodes(data=True) for p in d["params"] if p["name"] == "out.weight"]
    assert out["shape"] == [9, 10]


def test_a_float64_input_is_refused_with_a_clear_message() -> None:
    source = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n"
    module = ncdl.loads(source, "m.ncd").to_torch()
    with pytest.raises(InputShapeError) as info:
        module(torch.from_numpy(np.ones((2, 4))))
    assert str(info.value) == (
        "`x`: expects torch.float32 (the dtype of the module's weights), got torch.float64; "
        "convert it with .to(torch.float32) or convert the module"
    )
    assert module(torch.ones(2, 4)).dtype == torch.float32
    assert module.double()(torch.from_numpy(np.ones((2, 4)))).dtype == torch.float64


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_respect_the_umask(tmp_path, umask: int) -> None:
    from ncdl.cli import main

    source = tmp_path / "m.ncd"
    source.write_text("axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n")
    old = os.umask(umask)
    try:
        outputs = [tmp_path / "m.json", tmp_path / "m.pt", tmp_path / "m.dot", tmp_path / "m.onnx"]
        assert main(["ir", str(source), "-o", str(outputs[0])]) == 0
        assert main(["compile", str(source), "-o", str(outputs[1])]) == 0
        assert main(["render", str(source), "-o", str(outputs[2])]) == 0
        assert main(["export", str(source), "-o", str(outputs[3])]) == 0
    finally:
        os.umask(old)
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in outputs} == {
        path.name: 0o666 & ~umask for path in outputs
    }

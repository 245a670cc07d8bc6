"""E202: a model that passes the size limits but needs more memory than the
machine has is refused by the check, with the figure."""

from __future__ import annotations

import pytest
import torch

import ncdl
from ncdl.dsl import limits

BIG = "axis batch\naxis a = 65536, b = 65536\nmodel M(x: [batch, a]) -> [batch, b] {\n    return linear[a -> b](x)\n}\n"


def test_a_model_bigger_than_the_machine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "machine_memory", lambda: 16 * 10**9)
    program = ncdl.loads(BIG, "m.ncd")  # checking needs no memory for the weights
    assert program.models == ["M"]
    for compile_or_export in (program.to_torch, program.to_onnx):
        with pytest.raises(ncdl.NcdlError) as info:
            compile_or_export("M")
    (d,) = info.value.diagnostics
    assert str(d) == (
        "m.ncd:4:12: error[E202]: model 'M' needs about 34.4 GB to compile or export, "
        "more than this machine's 16.0 GB of memory\n"
        " 4 |     return linear[a -> b](x)\n"
        "   |            ^^^^^^^^^^^^^^^^^\n"
        "  help: 4,295,032,832 parameters count twice in float32 (the weights and their copy while they are written),"
        " plus the largest activation of 65,536 elements; use smaller axes or fewer repeats"
    )


def test_the_same_model_passes_where_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "machine_memory", lambda: 64 * 10**9)
    assert ncdl.loads(BIG, "m.ncd").models == ["M"]


def test_a_file_with_a_model_too_big_still_checks_and_compiles_its_small_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "machine_memory", lambda: 16 * 10**9)
    program = ncdl.loads(BIG + "axis c = 4\nmodel Small(x: [batch, c]) -> [batch, c] { return relu(x) }\n", "m.ncd")
    assert program.models == ["M", "Small"]
    assert program.to_torch("Small")(torch.ones(2, 4)).shape == (2, 4)

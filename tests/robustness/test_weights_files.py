"""Issue 14: `ncdl export --weights` with files that are not a plain state_dict of dense tensors gives one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ncdl.cli import main

MODEL = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n"
PLAIN = "refused: not a plain state_dict of tensors (save one with torch.save(module.state_dict(), path))"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([torch.zeros(4, 4)], PLAIN),
        (torch.zeros(4, 4), PLAIN),
        (
            {"linear.weight": torch.zeros(4, 4).to_sparse(), "linear.bias": torch.zeros(4)},
            "refused: `linear.weight` is a sparse tensor; save dense ones (tensor.to_dense())",
        ),
        (
            {"linear.weight": torch.zeros(4, 4, device="meta"), "linear.bias": torch.zeros(4)},
            "refused: `linear.weight` is a meta tensor, which holds no values",
        ),
    ],
    ids=["list", "bare", "sparse", "meta"],
)
def test_weights_that_are_not_dense_tensors_by_name(
    content: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.ncd").write_text(MODEL)
    torch.save(content, tmp_path / "w.pt")
    out = tmp_path / "m.onnx"
    code = main(["export", str(tmp_path / "m.ncd"), "--weights", str(tmp_path / "w.pt"), "-o", str(out)])
    assert (code, capsys.readouterr().err) == (1, f"error: {tmp_path / 'w.pt'}: {message}\n")
    assert not out.exists()


def test_weights_with_an_entry_the_model_lacks_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.ncd").write_text(MODEL)
    extra = {"linear.weight": torch.zeros(4, 4), "linear.bias": torch.zeros(4), "head.weight": torch.zeros(2, 4)}
    torch.save(extra, tmp_path / "w.pt")
    out = tmp_path / "m.onnx"
    code = main(["export", str(tmp_path / "m.ncd"), "--weights", str(tmp_path / "w.pt"), "-o", str(out)])
    assert (code, capsys.readouterr().err) == (
        1,
        f"error: {tmp_path / 'w.pt'}: state_dict entry `head.weight` is not a parameter or buffer of the model "
        "(the names and shapes the model needs are those `ncdl check` lists)\n",
    )
    assert not out.exists()

"""save_onnx: atomic writes, and external data for large models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import ncdl
import ncdl.files
from ncdl.compiler.onnx import lower_onnx
from ncdl.files import save_onnx
from ncdl.runtime import Session

SOURCE = """
axis batch, model = 8, hidden = 16
model M(x: [batch, model]) -> [batch, model] {
    return x -> linear[model -> hidden] -> relu -> linear[hidden -> model]
}
"""


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return lower_onnx(ncdl.loads(SOURCE).graph())


def test_saved_model_loads_back_identical(tmp_path: Path, model: onnx.ModelProto) -> None:
    path = tmp_path / "m.onnx"
    save_onnx(model, path)
    assert onnx.load(path) == model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_relative_path_in_the_working_directory(
    tmp_path: Path, model: onnx.ModelProto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save_onnx(model, "m.onnx")
    assert onnx.load("m.onnx") == model


def test_failed_write_leaves_the_old_file_intact(
    tmp_path: Path, model: onnx.ModelProto, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old contents")

    def broken_save(proto: onnx.ModelProto, target: Path, **kwargs: object) -> None:
        Path(target).write_bytes(b"half a mod")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx, "save_model", broken_save)
    with pytest.raises(OSError, match="No space left on device"):
        save_onnx(model, path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_large_models_keep_tensors_in_external_data(
    tmp_path: Path, model: onnx.ModelProto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ncdl.files, "EXTERNAL_DATA_BYTES", 0)
    before = model.SerializeToString()
    path = tmp_path / "big.onnx"
    save_onnx(model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]
    assert model.SerializeToString() == before  # the caller's model keeps its tensors
    stored = onnx.load(path, load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in stored.graph.initializer)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(Session(path).run({"x": x})["output"], Session(model).run({"x": x})["output"], atol=1e-6)

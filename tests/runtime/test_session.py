"""Session: loading, the readable signature, and one-line input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ncdl
import ncdl.files
from ncdl.compiler.onnx import lower_onnx
from ncdl.files import save_onnx
from ncdl.runtime import InputError, ModelLoadError, Session
from ncdl.runtime import session as session_module

SOURCE = """
axis batch, seq <= 16
axis key ~ seq
axis model = 4
model M(x: [batch, seq, model], k: [batch, key, model]) -> [batch, seq, model] {
    s = softmax[key](contract[model](x, k))
    return contract[key](s, k)
}
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.onnx"
    save_onnx(lower_onnx(ncdl.loads(SOURCE).graph()), path)
    return path


@pytest.fixture(scope="module")
def sess(saved: Path) -> Session:
    return Session(saved)


def arrays(b: int = 2, s: int = 5, key: int = 5, model: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal((b, s, model)).astype(np.float32),
        "k": rng.standard_normal((b, key, model)).astype(np.float32),
    }


def test_signature_lists_inputs_and_outputs_with_axes(sess: Session) -> None:
    assert sess.signature() == (
        "inputs:\n"
        "  x: float32[batch, seq<=16, model=4]\n"
        "  k: float32[batch, key (= seq)<=16, model=4]\n"
        "outputs:\n"
        "  output: float32[batch, seq<=16, model=4]"
    )


def test_input_and_output_names_in_order(sess: Session) -> None:
    assert sess.input_names == ["x", "k"]
    assert sess.output_names == ["output"]


def test_run_returns_outputs_by_name(sess: Session) -> None:
    feeds = arrays()
    x, k = feeds["x"], feeds["k"]
    s = np.einsum("bsm,bkm->bsk", x, k)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = sess.run(feeds)
    assert list(out) == ["output"]
    np.testing.assert_allclose(out["output"], p @ k, atol=1e-5)


def test_accepts_a_model_proto_and_bytes() -> None:
    model = lower_onnx(ncdl.loads(SOURCE).graph())
    for source in (model, model.SerializeToString()):
        assert Session(source).run(arrays(b=1, s=3, key=3))["output"].shape == (1, 3, 4)


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"x": arrays()["x"]}, "missing input `k`; the model's inputs are: x, k"),
        ({**arrays(), "kk": arrays()["k"]}, "unknown input `kk`; did you mean `k`?"),
        ({**arrays(), "mask": arrays()["k"]}, "unknown input `mask`; the model's inputs are: x, k"),
        (
            {**arrays(), "x": arrays()["x"].astype(np.float64)},
            "input `x`: expected dtype float32, got float64; convert it with .astype('float32')",
        ),
        ({**arrays(), "x": arrays()["x"][0]}, "input `x`: expected 3 axes [batch, seq, model], got 2 (shape [5, 4])"),
        (arrays(model=3), "input `x`: axis model expects 4 at dim 2, got 3"),
        (arrays(s=17, key=17), "input `x`: axis seq is at most 16, got 17 at dim 1"),
        (arrays(key=6), "input `k`: axis key (= seq) is 6 at dim 1, but input `x` has seq = 5 at dim 1"),
        (
            {**arrays(), "k": arrays(b=3)["k"]},
            "input `k`: axis batch is 3 at dim 0, but input `x` has batch = 2 at dim 0",
        ),
    ],
)
def test_input_errors_are_one_line_naming_input_and_axis(sess: Session, feeds: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        sess.run(feeds)
    assert str(info.value) == message


def test_corrupt_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf model\xff\xfe")
    with pytest.raises(ModelLoadError) as info:
        Session(path)
    assert str(info.value) == f"cannot load model `{path}`: not a valid ONNX model (Protobuf parsing failed)"


def test_truncated_model_is_a_load_error(tmp_path: Path, saved: Path) -> None:
    path = tmp_path / "cut.onnx"
    path.write_bytes(saved.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=r"^cannot load model `.*cut\.onnx`: not a valid ONNX model \(.+\)$"):
        Session(path)


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError) as info:
        Session(path)
    assert str(info.value) == f"cannot load model `{path}`: no such file"


def test_models_from_elsewhere_use_their_dim_names() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["a"], ["b"])],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sess = Session(model)
    assert sess.signature() == "inputs:\n  a: float32[N, dim1=3]\noutputs:\n  b: float32[N, dim1=3]"
    with pytest.raises(InputError, match=r"^input `a`: axis dim1 expects 3 at dim 1, got 2$"):
        sess.run({"a": np.zeros((4, 2), np.float32)})
    assert sess.run({"a": -np.ones((4, 3), np.float32)})["b"].max() == 0


def test_a_model_past_the_protobuf_limit_loads_through_external_data(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "axis batch, n = 4\nmodel L(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }"
    model = lower_onnx(ncdl.loads(source).graph())
    x = {"x": np.ones((2, 4), np.float32)}
    want = Session(model).run(x)["output"]
    monkeypatch.setattr(session_module, "_PROTOBUF_LIMIT", 0)
    monkeypatch.setattr(ncdl.files, "EXTERNAL_DATA_BYTES", 0)
    big = Session(model)
    assert big._staging is not None and (Path(big._staging.name) / "model.onnx.data").is_file()
    np.testing.assert_array_equal(big.run(x)["output"], want)

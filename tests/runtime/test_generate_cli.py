"""``ncdl export --decoding / --quantize int8 / --dtype`` and ``ncdl generate``; ``ncdl run`` on the results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import ncdl.architectures
from ncdl.cli import main
from ncdl.runtime import Session
from ncdl.runtime.generate import OrtDecoder, generate

GPT = str(Path(ncdl.architectures.__file__).parent / "gpt.ncd")
CORPUS = "hello world, said the circuit\n"
CHARS = "".join(sorted(set(CORPUS)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    (folder / "corpus.txt").write_text(CORPUS)
    for name, extra in (("f32", []), ("int8", ["--quantize", "int8"]), ("f16", ["--dtype", "float16"])):
        code = main(
            ["export", GPT, "-m", "GPT", "--decoding", "-o", str(folder / f"{name}.onnx"),
             "--vocabulary", str(folder / "corpus.txt"), "--set", f"vocab={len(CHARS)}", *extra]
        )  # fmt: skip
        assert code == 0
    return folder


def test_generate_streams_text_with_the_vocabulary_and_reports_tokens_per_second(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(exported / "f32.onnx"), "--prompt", "hello", "--max-new-tokens", "12"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("hello") and len(out) == len("hello") + 12 + 1
    assert set(out[5:-1]) <= set(CHARS)
    assert "12 tokens in " in err and "tokens/s" in err


def test_generate_matches_the_python_loop_and_sampling_is_seeded(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = exported / "f32.onnx"
    greedy = "".join(CHARS[t] for t in generate(OrtDecoder(path), [CHARS.index(c) for c in "the"], 8))
    assert main(["generate", str(path), "--prompt", "the", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out == "the" + greedy + "\n"
    args = ["generate", str(path), "--prompt", "the", "--max-new-tokens", "20", "--temperature", "3", "--top-p", "0.9"]
    assert main([*args, "--seed", "5"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--seed", "5", "--top-k", "50"]) == 0
    assert capsys.readouterr().out == first


def test_quantized_and_half_models_record_it_and_run(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    int8 = onnx.load(exported / "int8.onnx")
    meta = {p.key: p.value for p in int8.metadata_props}
    assert meta["ncdl.quantize"].startswith("int8 dynamic")
    assert "ncdl.decoding" in meta and "ncdl.vocabulary" in meta
    assert "MatMulInteger" in {n.op_type for n in int8.graph.node}
    half = onnx.load(exported / "f16.onnx")
    assert {p.key: p.value for p in half.metadata_props}["ncdl.dtype"] == "float16"
    assert half.graph.input[2].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    for name in ("int8", "f16"):
        assert main(["generate", str(exported / f"{name}.onnx"), "--prompt", "hi", "--max-new-tokens", "5"]) == 0
        assert len(capsys.readouterr().out) == 2 + 5 + 1
    # ncdl run takes them too: the signature, then the prompt through the step graph
    assert main(["run", str(exported / "int8.onnx")]) == 0
    assert "past_key_values.0.key: float32[batch, heads=4, past_seq<=128, head=32]" in capsys.readouterr().out
    feeds = {"tokens": np.array([[1, 2, 3]]), "offset": np.array(0)}
    for name, dtype in (("int8", np.float32), ("f16", np.float16)):
        s = Session(str(exported / f"{name}.onnx"))
        empty = {n: np.zeros((1, 4, 0, 32), dtype) for n in s.input_names if n.startswith("past_")}
        out = s.run({**feeds, **empty})
        assert out["present.3.value"].shape == (1, 4, 3, 32)


def test_export_and_generate_refuse_what_they_cannot_do(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", GPT, "-m", "GPT", "-o", str(tmp_path / "b.onnx"), "--dtype", "bfloat16"]) == 2
    assert "bfloat16 is not offered: onnxruntime" in capsys.readouterr().err
    plain = tmp_path / "plain.onnx"
    assert main(["export", GPT, "-m", "GPT", "-o", str(plain)]) == 0
    capsys.readouterr()
    assert main(["generate", str(plain), "--prompt", "1 2"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {plain}: the model has no `ncdl.decoding` metadata: export its step graph with "
        "`ncdl export --decoding`"
    )
    assert main(["generate", str(exported / "f32.onnx"), "--prompt", "hello!"]) == 1
    assert "outside the model's vocabulary: '!'" in capsys.readouterr().err
    assert main(["generate", str(exported / "f32.onnx"), "--prompt", "hi", "--max-new-tokens", "500"]) == 1
    assert "exceed the model's 128 positions" in capsys.readouterr().err
    assert main(["generate", GPT, "--prompt", "1"]) == 1
    assert "export it first" in capsys.readouterr().err

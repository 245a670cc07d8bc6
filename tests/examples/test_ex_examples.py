"""The scripts in examples/, run in reduced form."""

from __future__ import annotations

from pathlib import Path

import pytest
from example_loader import load_example

from ncdl import architectures

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_digits_cnn_learns_and_onnxruntime_gives_the_same_accuracy(tmp_path: Path) -> None:
    digits = load_example("digits_cnn")
    result = digits.run(epochs=3, out=tmp_path)
    assert result["torch_accuracy"] > 0.6  # chance is 0.1
    assert result["onnx_accuracy"] == result["torch_accuracy"]
    assert result["max_logit_difference"] < 1e-4
    assert (tmp_path / "digits_cnn.onnx").is_file()


def test_char_gpt_writes_the_loss_curve_weights_and_onnx(tmp_path: Path) -> None:
    char_gpt = load_example("char_gpt")
    result = char_gpt.run(steps=6, out=tmp_path, batch=8, seq=32, length=10)
    assert result["final_loss"] > 0
    png = (tmp_path / "char_gpt_loss.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert (tmp_path / "char_gpt.onnx").is_file() and (tmp_path / "char_gpt.pt").is_file()
    assert (tmp_path / "char_gpt.step.onnx").is_file()  # sampled through the decoding step graph
    assert result["tokens_per_second"] > 0 and result["full_tokens_per_second"] > 0


def test_render_all_draws_every_bundled_model(tmp_path: Path) -> None:
    render_all = load_example("render_all")
    written = render_all.render_all(tmp_path)
    expected = {
        f"{name}_{model}" for name in architectures.list_architectures() for model in architectures.load(name).models
    }
    drawn = {p.stem for p in written}
    assert {"attention_Attention", "attention_CausalAttention"} <= drawn  # library circuits, drawn symbolically
    assert {s for s in drawn - expected if not s.startswith("attention_")} <= {
        f"{name}_{c}" for name in architectures.list_architectures() for c in architectures.load(name).circuits
    }
    assert expected <= drawn
    assert all(p.stat().st_size > 0 for p in written)

"""``ncdl demo``: the whole pipeline on the bundled GPT and other architectures, through the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ncdl import architectures, cli
from ncdl.demo import run_demo
from ncdl.runtime import Session


def test_demo_writes_a_trained_model_whose_onnx_export_matches_torch(tmp_path: Path, capsys) -> None:
    assert run_demo("gpt", steps=8, out=str(tmp_path)) == 0
    for name in ("gpt.svg", "gpt.pt", "gpt.onnx"):
        assert (tmp_path / name).stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    printed = capsys.readouterr().out
    for stage in ("check", "render", "compile", "train", "save", "export", "run (onnxruntime)", "sample (onnxruntime)"):
        assert f"== {stage} ==" in printed
    assert "unigram entropy" in printed and "== summary ==" in printed
    assert "characters through the cached step graph" in printed and "tokens/s (KV cache)" in printed
    assert (tmp_path / "gpt.step.onnx").stat().st_size > 0

    # the files on disk agree: the saved weights in torch vs the exported model in onnxruntime
    module = architectures.load("gpt").to_torch("GPT")
    module.load_state_dict(torch.load(tmp_path / "gpt.pt", weights_only=True))
    module.eval()
    tokens = torch.randint(0, 65, (3, 40), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = module(tokens).numpy()
    session = Session(tmp_path / "gpt.onnx")
    got = session.run({"tokens": tokens.numpy()})[session.output_names[0]]
    assert np.abs(want - got).max() < 1e-4


def test_demo_through_the_command_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "made" / "here"
    assert cli.main(["demo", "--steps", "5", "--out", str(out)]) == 0
    assert (out / "gpt.onnx").is_file()
    assert "parity" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arch", "model"),
    [("mlp", "ResidualMLP"), ("encoder", "PreNormEncoder"), ("identity_resnet", "IdentityResNet")],
)
def test_demo_of_a_model_that_is_not_a_language_model_skips_training(
    tmp_path: Path, capsys, arch: str, model: str
) -> None:
    # dropout (encoder) and batch norm (identity_resnet) must be compared in inference mode
    assert run_demo(arch, steps=3, out=str(tmp_path)) == 0
    printed = capsys.readouterr().out
    assert f"training skipped: {model}" in printed
    assert "(ok)" in printed
    assert (tmp_path / f"{arch}.onnx").is_file() and (tmp_path / f"{arch}.svg").is_file()


def test_demo_of_a_ncd_file_by_path(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.ncd"
    assert run_demo(str(source), steps=0, out=str(tmp_path)) == 0
    assert (tmp_path / "digits_cnn.onnx").is_file()


def test_demo_of_a_library_file_checks_it_and_stops(tmp_path: Path, capsys) -> None:
    assert run_demo("transformer", out=str(tmp_path)) == 0
    assert "no model" in capsys.readouterr().out


def test_demo_of_an_unknown_architecture_is_one_line_on_stderr(tmp_path: Path, capsys) -> None:
    assert cli.main(["demo", "gtp", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no bundled architecture 'gtp'") and "\n" not in err


@pytest.mark.parametrize("steps", [-1, -20])
def test_demo_refuses_negative_steps(tmp_path: Path, steps: int, capsys) -> None:
    assert run_demo("gpt", steps=steps, out=str(tmp_path)) == 2
    assert "--steps" in capsys.readouterr().err

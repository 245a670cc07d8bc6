"""Every command's exit codes: 0 success, 1 a mistake in the user's input,
2 a usage error; errors go to stderr and never as a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ncdl.cli import main

GOOD = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return relu(linear[n -> n](x)) }\n"
BAD = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return relu(y) }\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "good.ncd").write_text(GOOD)
    (d / "bad.ncd").write_text(BAD)
    (d / "junk.onnx").write_bytes(b"not a model")
    (d / "junk.pt").write_bytes(b"not weights")
    assert main(["export", str(d / "good.ncd"), "-o", str(d / "good.onnx")]) == 0
    np.save(d / "x.npy", np.ones((2, 4), np.float32))
    np.save(d / "wrong.npy", np.ones((2, 5), np.float32))
    return d


# (argv with {d} for the fixture folder, exit code, a piece of stderr)
CASES = [
    # check
    ("check {d}/good.ncd", 0, ""),
    ("check {d}/bad.ncd", 1, "error[E102]: unknown value 'y'"),
    ("check {d}/missing.ncd", 1, "error[E002]: no such file"),
    ("check {d}/good.ncd --model Nope", 1, "no model 'Nope'"),
    ("check", 2, "the following arguments are required: file"),
    ("check {d}/good.ncd --frobnicate", 2, "unrecognized arguments"),
    # ir
    ("ir {d}/good.ncd -o {d}/out/ir.json", 0, ""),
    ("ir {d}/bad.ncd", 1, "error[E102]"),
    ("ir {d}/good.ncd -o {d}/nowhere/ir.json", 1, "the folder"),
    ("ir {d}/good.ncd -o", 2, "expected one argument"),
    # compile
    ("compile {d}/good.ncd -o {d}/out/m.pt", 0, "wrote"),
    ("compile {d}/bad.ncd", 1, "error[E102]"),
    ("compile {d}/good.ncd --model Nope", 1, "no model 'Nope'"),
    ("compile", 2, "required: file"),
    # export
    ("export {d}/good.ncd -o {d}/out/m.onnx", 0, "wrote"),
    ("export {d}/bad.ncd -o {d}/out/m.onnx", 1, "error[E102]"),
    ("export {d}/good.ncd -o {d}/out/m.onnx --weights {d}/junk.pt", 1, "not a plain state_dict"),
    ("export {d}/good.ncd -o {d}/out/m.onnx --weights {d}/missing.pt", 1, "cannot read weights"),
    ("export {d}/good.ncd", 2, "required: -o/--output"),
    ("export {d}/good.ncd -o {d}/out/m.onnx --opset 99", 2, "opset 99 is not supported"),
    ("export {d}/good.ncd -o {d}/out/m.onnx --opset nine", 2, "invalid int value"),
    # run
    ("run {d}/good.onnx -i {d}/x.npy -o {d}/out/y.npy", 0, "wrote"),
    ("run {d}/good.onnx", 0, ""),
    ("run {d}/junk.onnx", 1, "not a valid ONNX model"),
    ("run {d}/missing.onnx", 1, "no such file"),
    ("run {d}/good.onnx -i {d}/wrong.npy", 1, "input `x`"),
    ("run {d}/good.onnx -i {d}/missing.npy", 1, "cannot read"),
    ("run", 2, "required: model_file"),
    # render
    ("render {d}/good.ncd -o {d}/out/m.dot", 0, "wrote"),
    ("render {d}/bad.ncd -o {d}/out/bad.dot", 1, "error[E102]"),
    ("render {d}/missing.ncd -o {d}/out/m.dot", 1, "error[E002]"),
    ("render {d}/good.ncd -o {d}/out/m.txt", 2, "use a .svg, .png, .pdf or .dot"),
    ("render {d}/good.ncd -o {d}/out/m.svg --depth -1", 2, "depth"),
    ("render {d}/good.ncd", 2, "required: -o/--output"),
    # stats
    ("stats {d}/good.ncd --axis batch=8", 0, ""),
    ("stats {d}/bad.ncd", 1, "error[E102]"),
    ("stats {d}/good.ncd --axis nope=3", 1, "'nope' is not in model M"),
    ("stats {d}/good.ncd --axis batch=lots", 2, "write NAME=INTEGER"),
    (
        "check {d}/good.ncd --set n=lots",
        2,
        "--set n=lots: write NAME=VALUE with an integer, a number (1e-5) or true/false",
    ),
    ("stats", 2, "required: file"),
    # demo
    ("demo {d}/good.ncd --steps 0 --out {d}/out/demo", 0, ""),
    ("demo nonesuch --steps 0 --out {d}/out/demo", 1, "no bundled architecture 'nonesuch'"),
    ("demo {d}/bad.ncd --steps 0 --out {d}/out/demo", 1, "error[E102]"),
    ("demo gpt --steps -1 --out {d}/out/demo", 2, "--steps must be 0 or more"),
    ("demo gpt --steps many", 2, "invalid int value"),
    # the command itself
    ("", 2, "required: COMMAND"),
    ("frobnicate", 2, "invalid choice"),
]


@pytest.mark.parametrize(("argv", "code", "message"), CASES, ids=[c[0].replace("{d}/", "") or "(none)" for c in CASES])
def test_exit_code(argv: str, code: int, message: str, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "out").mkdir(exist_ok=True)
    assert main(argv.format(d=files).split()) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    if code == 1 and "error[" not in message:
        assert err.count("\n") == 1, err  # a one-line error


def test_help_is_success(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "COMMAND" in capsys.readouterr().out
    for command in ["check", "ir", "compile", "export", "run", "render", "stats", "demo"]:
        assert main([command, "--help"]) == 0


def test_installed_entry_point(files: Path) -> None:
    exe = Path(sys.executable).with_name("ncdl")
    if not exe.exists():
        pytest.skip("the ncdl entry point is not installed next to this Python")
    ok = subprocess.run([str(exe), "check", str(files / "good.ncd")], capture_output=True, text=True, timeout=120)
    bad = subprocess.run([str(exe), "check", str(files / "bad.ncd")], capture_output=True, text=True, timeout=120)
    usage = subprocess.run([str(exe), "check"], capture_output=True, text=True, timeout=120)
    assert (ok.returncode, bad.returncode, usage.returncode) == (0, 1, 2)
    assert "M(" in ok.stdout and "error[E102]" in bad.stderr and "usage:" in usage.stderr
    assert "Traceback" not in bad.stderr + usage.stderr


def test_run_refuses_an_npy_for_several_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (
        "axis batch, n = 4\nmodel Two(x: [batch, n]) -> (a: [batch, n], b: [batch]) { return relu(x), sum[n](x) }\n"
    )
    (tmp_path / "two.ncd").write_text(source)
    model, x = tmp_path / "two.onnx", tmp_path / "x.npy"
    assert main(["export", str(tmp_path / "two.ncd"), "-o", str(model)]) == 0
    np.save(x, np.ones((2, 4), np.float32))
    capsys.readouterr()
    assert main(["run", str(model), "-i", str(x), "-o", str(tmp_path / "y.npy")]) == 1
    assert capsys.readouterr().err == (
        f"error: {model} has 2 outputs (a, b) and an .npy file holds one array; "
        f"write them to an .npz: -o {tmp_path / 'y.npz'}\n"
    )
    assert not (tmp_path / "y.npy").exists()
    assert main(["run", str(model), "-i", str(x), "-o", str(tmp_path / "y.npz")]) == 0
    assert sorted(np.load(tmp_path / "y.npz").files) == ["a", "b"]

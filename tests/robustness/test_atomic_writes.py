"""Every file the CLI writes appears whole or not at all.

For each command that writes (ir, compile, export, run, render with -o), a
failure part-way (the final rename refused, the data half-written, Ctrl-C)
leaves an earlier output byte-for-byte untouched and no temporary files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ncdl.cli import main

MODEL = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return relu(linear[n -> n](x)) }\n"
OLD = b"an earlier output\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "m.ncd").write_text(MODEL)
    assert main(["export", str(folder / "m.ncd"), "-o", str(folder / "m.onnx")]) == 0
    np.save(folder / "x.npy", np.ones((2, 4), np.float32))
    return folder


COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "ir": lambda src, out: ["ir", str(src / "m.ncd"), "-o", str(out / "m.json")],
    "compile": lambda src, out: ["compile", str(src / "m.ncd"), "-o", str(out / "m.pt")],
    "export": lambda src, out: ["export", str(src / "m.ncd"), "-o", str(out / "m.onnx")],
    "run": lambda src, out: ["run", str(src / "m.onnx"), "-i", str(src / "x.npy"), "-o", str(out / "y.npy")],
    "render": lambda src, out: ["render", str(src / "m.ncd"), "-o", str(out / "m.svg")],
}


def _target(argv: list[str]) -> Path:
    return Path(argv[argv.index("-o") + 1])


def _fail_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", refuse)


def _fail_mid_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data is partly on disk when the failure comes."""
    import onnx

    def half(model: object, path: object, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x08half an onnx file")
        raise OSError(5, "Input/output error", str(path))

    def interrupted_sync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(onnx, "save_model", half)
    monkeypatch.setattr(os, "fsync", interrupted_sync)
    _fail_rename(monkeypatch)  # the diagram writer's last step


def _interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    def ctrl_c(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", ctrl_c)


FAILURES = {"rename": (_fail_rename, 1), "mid_write": (_fail_mid_write, 1), "interrupt": (_interrupt, 130)}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_failed_write_leaves_earlier_output_and_no_temp_files(
    command: str,
    failure: str,
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = COMMANDS[command](inputs, tmp_path)
    target = _target(argv)
    target.write_bytes(OLD)
    inject, code = FAILURES[failure]
    inject(monkeypatch)
    assert main(argv) == code
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("command", list(COMMANDS))
def test_successful_write_replaces_output_and_leaves_no_temp_files(command: str, inputs: Path, tmp_path: Path) -> None:
    argv = COMMANDS[command](inputs, tmp_path)
    target = _target(argv)
    target.write_bytes(OLD)
    assert main(argv) == 0
    assert target.read_bytes() != OLD and target.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_input_error_writes_nothing_but_the_broken_diagram(command: str, inputs: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.ncd").write_text(MODEL.replace("relu(", "relu(y + "))
    (src / "m.onnx").write_bytes(b"not onnx")
    (src / "x.npy").write_bytes((inputs / "x.npy").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    argv = COMMANDS[command](src, out)
    _target(argv).write_bytes(OLD)
    assert main(argv) == 1
    # render draws a broken program with its mistakes marked (and still exits 1)
    assert (_target(argv).read_bytes() == OLD) == (command != "render")
    assert sorted(p.name for p in out.iterdir()) == [_target(argv).name]

"""Issue 14, output and import safety: `-o` writes only regular files or new paths, a library file's own `use`
resolves in the library, a BOM and CR line ends are read, a FIFO is not read, errors name the real file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import ncdl
import ncdl.files
from ncdl.cli import main

MODEL = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return relu(x) }\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "m.ncd").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def export(target: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["export", "m.ncd", "-o", target])
    return code, capsys.readouterr().err


def test_output_to_a_fifo_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: the FIFO replaced by a regular file
    os.mkfifo(project / "pipe")
    assert export("pipe", capsys) == (1, "error: cannot write pipe: it is a FIFO, not a regular file\n")
    assert (project / "pipe").is_fifo()


def test_output_to_a_symlink_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "real.onnx").write_bytes(b"old")
    (project / "link.onnx").symlink_to(project / "real.onnx")
    message = "error: cannot write link.onnx: it is a symbolic link; give the path it points to\n"
    assert export("link.onnx", capsys) == (1, message)
    assert (project / "link.onnx").is_symlink() and (project / "real.onnx").read_bytes() == b"old"


def test_output_to_a_device_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as root the rename would have replaced /dev/null itself
    assert export("/dev/null", capsys) == (1, "error: cannot write /dev/null: it is a device, not a regular file\n")
    assert Path("/dev/null").is_char_device()


def test_render_and_run_outputs_are_checked_too(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(project / "pipe.svg")
    assert main(["render", "m.ncd", "-o", "pipe.svg"]) == 1
    assert capsys.readouterr().err == "error: cannot write pipe.svg: it is a FIFO, not a regular file\n"
    with pytest.raises(ncdl.files.UnsafeTarget):
        ncdl.files.write_atomic(project / "pipe.svg", "x")


def test_a_failed_write_names_the_target_not_the_temporary_file(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # was: "error: : No space left on device" (a full disk names no file), or the .tmp file's name
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert main(["compile", "m.ncd", "-o", "w.pt"]) == 1
    assert capsys.readouterr().err == "error: w.pt: No space left on device\n"
    assert [p.name for p in project.iterdir() if p.name.endswith(".tmp")] == []


def test_a_library_files_imports_resolve_in_the_library(project: Path) -> None:
    # was: a stray transformer.ncd in the user's folder replaced what gpt.ncd imports
    (project / "transformer.ncd").write_text("this is not ncdl\n")
    (project / "u.ncd").write_text('use "gpt.ncd"\n')
    assert ncdl.load(project / "u.ncd").models == []  # was: E001 at transformer.ncd:1:1


def test_a_byte_order_mark_and_cr_line_ends(project: Path) -> None:
    text = "axis batch, n = 4\rmodel M(x: [batch, n]) -> [batch, n] {\r    return relu(y)\r}\r"
    (project / "cr.ncd").write_bytes(b"\xef\xbb\xbf" + text.encode())
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(project / "cr.ncd")
    assert str(info.value).splitlines()[:2] == [
        f"{project / 'cr.ncd'}:3:17: error[E102]: unknown value 'y'",
        " 3 |     return relu(y)",
    ]
    (project / "bom.ncd").write_bytes(b"\xef\xbb\xbf" + MODEL.encode())
    assert ncdl.load(project / "bom.ncd").models == ["M"]


def test_a_form_feed_does_not_shift_line_numbers() -> None:
    text = "axis batch, n = 4\n\x0cmodel M(x: [batch, n]) -> [batch, n] {\n    return relu(y)\n}\n"
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(text, "m.ncd")
    assert str(info.value).splitlines()[:2] == ["m.ncd:3:17: error[E102]: unknown value 'y'", " 3 |     return relu(y)"]


def test_check_of_a_fifo_does_not_hang(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(project / "f.ncd")
    assert main(["check", "f.ncd"]) == 1
    assert capsys.readouterr().err == "error[E002]: f.ncd is not a regular file\n  help: give a .ncd file\n"

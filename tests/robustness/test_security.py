"""A .ncd file cannot reach outside its project, and no user data is executed.

`use` resolves only next to the importing file and in the bundled library;
paths that leave the top-level file's folder (absolute, `..`, or a symlink
pointing out) are refused with E171 unless allowed, whether or not the
target exists. The package never hands user text to eval/exec/pickle, and
weights load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch

import ncdl
from ncdl.cli import main

PACKAGE = Path(ncdl.__file__).resolve().parent
MODEL = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n"
LIB = "axis n = 4\ncircuit Twice(x: [n]) -> [n] { return x + x }\n"


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """project/ (the top-level file's folder) next to outside/ (not part of it)."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "lib.ncd").write_text(LIB)
    (project / "sub" / "lib.ncd").write_text(LIB)
    return {"project": project, "outside": outside}


def codes(text: str, path: Path, **kw: object) -> list[tuple[str, str]]:
    try:
        ncdl.loads(text, str(path), **kw)
    except ncdl.NcdlError as err:
        return [(d.code, d.message) for d in err.diagnostics]
    return []


def user(line: str) -> str:
    return line + "\nmodel M(x: [n]) -> [n] { return Twice(x) }\n"


def test_relative_import_inside_the_project(layout: dict[str, Path]) -> None:
    assert codes(user('use "sub/lib.ncd"'), layout["project"] / "m.ncd") == []


def test_dot_dot_leaving_the_project_is_refused(layout: dict[str, Path]) -> None:
    assert codes(user('use "../outside/lib.ncd"'), layout["project"] / "m.ncd") == [
        ("E171", "`use` path '../outside/lib.ncd' leaves the project folder")
    ]


def test_absolute_path_outside_is_refused(layout: dict[str, Path]) -> None:
    target = layout["outside"] / "lib.ncd"
    assert codes(user(f'use "{target}"'), layout["project"] / "m.ncd") == [
        ("E171", f"`use` path '{target}' leaves the project folder")
    ]


def test_missing_file_outside_is_refused_like_an_existing_one(layout: dict[str, Path]) -> None:
    # the same answer for /etc/passwd and /no/such/file: a .ncd file cannot probe the disk
    for target in ["/etc/passwd", "/no/such/file.ncd", "../../../../no/such.ncd"]:
        assert [c for c, _ in codes(user(f'use "{target}"'), layout["project"] / "m.ncd")] == ["E171"]


def test_symlink_pointing_outside_is_refused(layout: dict[str, Path]) -> None:
    (layout["project"] / "link.ncd").symlink_to(layout["outside"] / "lib.ncd")
    (layout["project"] / "linkdir").symlink_to(layout["outside"], target_is_directory=True)
    assert [c for c, _ in codes(user('use "link.ncd"'), layout["project"] / "m.ncd")] == ["E171"]
    assert [c for c, _ in codes(user('use "linkdir/lib.ncd"'), layout["project"] / "m.ncd")] == ["E171"]


def test_symlink_inside_the_project_is_followed(layout: dict[str, Path]) -> None:
    (layout["project"] / "link.ncd").symlink_to(layout["project"] / "sub" / "lib.ncd")
    assert codes(user('use "link.ncd"'), layout["project"] / "m.ncd") == []


def test_allow_path_opens_one_folder(layout: dict[str, Path]) -> None:
    text = user('use "../outside/lib.ncd"')
    assert codes(text, layout["project"] / "m.ncd", allow_paths=(str(layout["outside"]),)) == []
    path = layout["project"] / "m.ncd"
    path.write_text(text)
    assert main(["check", str(path)]) == 1
    assert main(["check", str(path), "--allow-path", str(layout["outside"])]) == 0


def test_an_imported_file_cannot_climb_out_either(layout: dict[str, Path]) -> None:
    (layout["project"] / "sub" / "hop.ncd").write_text('use "../../outside/lib.ncd"\n')
    assert [c for c, _ in codes(user('use "sub/hop.ncd"'), layout["project"] / "m.ncd")] == ["E171"]


def test_bundled_library_is_always_reachable(layout: dict[str, Path]) -> None:
    text = 'use "attention.ncd"\naxis n = 4\nmodel M(x: [n]) -> [n] { return x }\n'
    assert codes(text, layout["project"] / "m.ncd") == []


# ---- no code from data ------------------------------------------------------------


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                found.append((f.id, node))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                found.append((f"{f.value.id}.{f.attr}", node))
    return found


def _keyword(call: ast.Call, name: str) -> object:
    for k in call.keywords:
        if k.arg == name and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


def test_package_never_evaluates_or_unpickles_data() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if name in {"eval", "exec", "__import__"} or name.startswith(("pickle.load", "marshal.", "shelve.")):
                problems.append(f"{where}: {name}(...)")
            if name == "torch.load" and _keyword(call, "weights_only") is not True:
                problems.append(f"{where}: torch.load without weights_only=True")
            if name in {"np.load", "numpy.load"} and _keyword(call, "allow_pickle") is not False:
                problems.append(f"{where}: np.load without allow_pickle=False")
    assert problems == []


def test_the_scan_sees_the_loads_that_exist() -> None:
    # guards the scan above: the loads of the CLI and of the weights reader are where it looks for them
    names = [name for name, _ in _calls(ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8")))]
    weights = [name for name, _ in _calls(ast.parse((PACKAGE / "weights.py").read_text(encoding="utf-8")))]
    assert "torch.load" in weights and "np.load" in names


class _Bomb:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_pickle_bomb_weights_are_refused_not_executed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "PWNED"
    (tmp_path / "m.ncd").write_text(MODEL)
    torch.save({"linear.weight": _Bomb(marker)}, tmp_path / "bomb.pt")
    code = main(
        ["export", str(tmp_path / "m.ncd"), "-o", str(tmp_path / "m.onnx"), "--weights", str(tmp_path / "bomb.pt")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert not marker.exists()
    assert not (tmp_path / "m.onnx").exists()
    assert (
        err
        == f"error: {tmp_path / 'bomb.pt'}: refused: not a plain state_dict of tensors (save one with torch.save(module.state_dict(), path))\n"
    )


def test_pickled_npz_inputs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    (tmp_path / "m.ncd").write_text(MODEL)
    assert main(["export", str(tmp_path / "m.ncd"), "-o", str(tmp_path / "m.onnx")]) == 0
    np.save(tmp_path / "x.npy", np.array([_Bomb(tmp_path / "PWNED")], dtype=object), allow_pickle=True)
    capsys.readouterr()
    assert main(["run", str(tmp_path / "m.onnx"), "-i", str(tmp_path / "x.npy")]) == 1
    err = capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists()
    assert err.startswith(f"error: {tmp_path / 'x.npy'}: cannot read") and err.count("\n") == 1

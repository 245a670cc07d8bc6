"""write_diagram: formats by extension, atomic writes, and the no-`dot` fallback."""

from __future__ import annotations

import os
from pathlib import Path

import diagram_graphs
import graphviz
import pytest

from ncdl.compiler.diagram import render, write_diagram


@pytest.fixture
def dot() -> graphviz.Digraph:
    return render(diagram_graphs.mlp())


def test_writes_dot_text(dot: graphviz.Digraph, tmp_path: Path) -> None:
    assert write_diagram(dot, str(tmp_path / "m.dot")) is None
    assert (tmp_path / "m.dot").read_text() == dot.source


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_writes_images_by_extension(dot: graphviz.Digraph, tmp_path: Path, suffix: str, magic: bytes) -> None:
    target = tmp_path / f"m{suffix}"
    assert write_diagram(dot, str(target)) is None
    assert target.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_writes_through_a_temporary_file_in_the_same_folder(
    dot: graphviz.Digraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        moves.append((str(src), str(dst)))
        assert Path(dst).exists() is False
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "m.svg"
    write_diagram(dot, str(target))
    ((src, dst),) = moves
    assert Path(src).parent == tmp_path and Path(dst) == target


def test_a_failed_render_leaves_no_file(dot: graphviz.Digraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise graphviz.CalledProcessError(1, ["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", broken)
    with pytest.raises(graphviz.CalledProcessError):
        write_diagram(dot, str(tmp_path / "m.svg"))
    assert list(tmp_path.iterdir()) == []


def test_without_the_dot_program_writes_dot_text_and_says_how_to_install(
    dot: graphviz.Digraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    message = write_diagram(dot, str(tmp_path / "m.png"))
    assert message is not None and "apt-get install graphviz" in message and "m.dot" in message
    assert (tmp_path / "m.dot").read_text() == dot.source
    assert not (tmp_path / "m.png").exists()


def test_a_missing_executable_during_render_falls_back_too(
    dot: graphviz.Digraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object, **kwargs: object) -> bytes:
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    message = write_diagram(dot, str(tmp_path / "m.pdf"))
    assert message is not None and "Graphviz" in message
    assert (tmp_path / "m.dot").exists()


def test_rejects_an_unknown_extension(dot: graphviz.Digraph, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf or \.dot"):
        write_diagram(dot, str(tmp_path / "m.jpg"))

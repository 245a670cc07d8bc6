"""Each limit's diagnostic, with the numbers, raised by the checker before any
backend allocates memory (a Program over a limit never exists)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ncdl
from ncdl.dsl.limits import MAX_ACTIVATION, MAX_PARAMETERS
from ncdl.dsl.source import MAX_FILE_BYTES


def error(text: str, path: str = "m.ncd") -> str:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(text, path)
    return str(info.value)


def test_parameter_limit() -> None:
    text = "axis batch, a = 100000, b = 200000\nmodel M(x: [batch, a]) -> [batch, b] { return linear[a -> b](x) }\n"
    assert error(text) == (
        "m.ncd:2:47: error[E155]: model 'M' has 20,000,200,000 parameters, over the limit of 10,000,000,000\n"
        " 2 | model M(x: [batch, a]) -> [batch, b] { return linear[a -> b](x) }\n"
        "   |                                               ^^^^^^^^^^^^^^^^^\n"
        "  help: the largest is 'linear.weight' [200000, 100000] with 20,000,000,000; use smaller axes or fewer repeats"
    )


def test_parameter_limit_counts_every_repeat() -> None:
    text = (
        "axis batch, a = 50000\n"
        "model M(x: [batch, a]) -> [batch, a] {\n"
        "    repeat 5 { x = x + linear[a -> a](x) }\n"
        "    return x\n"
        "}\n"
    )
    assert error(text).splitlines()[0] == (
        "m.ncd:3:24: error[E155]: model 'M' has 12,500,250,000 parameters, over the limit of 10,000,000,000"
    )
    # three blocks are under the limit
    assert ncdl.loads(text.replace("repeat 5", "repeat 3")).models == ["M"]


def test_tied_parameters_count_once() -> None:
    text = (
        "axis batch, vocab = 100000, model = 60000\n"
        "model M(t: int[batch] of vocab) -> [batch, vocab] {\n"
        "    x = embed[vocab -> model](t) as wte\n"
        "    return linear[model -> vocab](x, bias=false, tie=wte)\n"
        "}\n"
    )
    assert 2 * 100000 * 60000 > MAX_PARAMETERS > 100000 * 60000
    assert ncdl.loads(text).models == ["M"]
    assert "E155" in error(text.replace(", tie=wte", ""))


def test_activation_limit_uses_bounds() -> None:
    text = (
        "axis seq <= 4096, a = 65536, b = 65536\n"
        "model M(x: [seq, a]) -> [seq, a, b] { return contract[](x, param[b]()) }\n"
    )
    assert error(text) == (
        "m.ncd:2:46: error[E156]: 'contract' makes a tensor of 17,592,186,044,416 elements "
        "[seq=4,096, a=65,536, b=65,536], over the limit of 17,179,869,184 (2^34)\n"
        " 2 | model M(x: [seq, a]) -> [seq, a, b] { return contract[](x, param[b]()) }\n"
        "   |                                              ^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  help: free axes count at their bound (or 1 when unbounded); use smaller axes"
    )


def test_activation_limit_counts_unbounded_axes_as_one() -> None:
    text = (
        "axis batch, a = 100000, b = 100000\n"
        "model M(x: [batch, a], y: [batch, b]) -> [batch, a, b] { return contract[](x, y) }\n"
    )
    assert 100000 * 100000 < MAX_ACTIVATION
    assert ncdl.loads(text).models == ["M"]
    assert "E156" in error(text.replace("b = 100000", "b = 200000"))


def test_axis_size_limit() -> None:
    assert error("axis batch, a = 2147483648\nmodel M(x: [batch, a]) -> [batch, a] { return x }\n").splitlines()[0] == (
        "m.ncd:1:17: error[E107]: size 2147483648 is larger than the limit 2147483647"
    )


def test_repeat_limit() -> None:
    text = "axis n = 4\nmodel M(x: [n]) -> [n] { repeat 10001 { x = relu(x) } return x }\n"
    assert error(text).splitlines()[0] == "m.ncd:2:33: error[E151]: repeat count 10,001 is over the limit of 10,000"


def test_nesting_limit() -> None:
    text = "axis n = 4\nmodel M(x: [n]) -> [n] { return " + "(" * 70 + "x" + ")" * 70 + " }\n"
    assert error(text).splitlines()[0] == "m.ncd:2:96: error[E005]: nesting deeper than 64 levels"


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.ncd"
    with open(path, "wb") as fh:
        fh.write(b"axis n = 4\n")
        fh.seek(MAX_FILE_BYTES)
        fh.write(b"\n")
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(path)
    assert str(info.value) == (
        f"{path}:1:1: error[E003]: file is larger than 8 MiB\n"
        "  help: split the architecture into files joined with `use`"
    )


def test_an_imported_file_over_the_limit_is_reported_at_its_use(tmp_path: Path) -> None:
    with open(tmp_path / "big.ncd", "wb") as fh:
        fh.seek(MAX_FILE_BYTES + 10)
        fh.write(b"\n")
    (tmp_path / "m.ncd").write_text('axis n = 4\nuse "big.ncd"\n')
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(tmp_path / "m.ncd")
    (d,) = info.value.diagnostics
    assert (d.code, d.span.file, d.span.line, d.span.col) == ("E003", str(tmp_path / "m.ncd"), 2, 1)


def test_import_depth_limit(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"f{i}.ncd").write_text(f'use "f{i + 1}.ncd"\naxis n{i} = 1\n')
    (tmp_path / "f40.ncd").write_text("axis n40 = 1\n")
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(tmp_path / "f0.ncd")
    (d,) = info.value.diagnostics
    assert (d.code, d.message) == ("E173", "imports nest deeper than 32 files")
    assert Path(d.span.file).name == "f31.ncd" and d.span.line == 1


def test_import_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.ncd").write_text('use "b.ncd"\naxis n = 1\n')
    (tmp_path / "b.ncd").write_text('use "a.ncd"\naxis k = 1\n')
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(tmp_path / "a.ncd")
    (d,) = info.value.diagnostics
    assert (d.code, d.message, d.hint) == (
        "E172",
        "import cycle: a.ncd -> b.ncd -> a.ncd",
        "move the shared circuits into a third file",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_import_is_reported_at_its_use(tmp_path: Path) -> None:
    (tmp_path / "secret.ncd").write_text("axis n = 4\n")
    (tmp_path / "secret.ncd").chmod(0)
    (tmp_path / "m.ncd").write_text('use "secret.ncd"\naxis k = 4\n')
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(tmp_path / "m.ncd")
    (d,) = info.value.diagnostics
    assert (d.code, d.span.line) == ("E002", 1)

"""Regressions for what a new user met in the first hour (issue 13): each
was accepted silently or answered with a bare or misleading message."""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest
import torch

import ncdl
from ncdl.compiler.fx.runtime import InputShapeError


def test_a_derived_axis_name_never_collides_with_the_users_own() -> None:
    source = (
        "axis batch, c = 4\n"
        "circuit Twice[a](x: [a]) -> [(2*a)] { return concat[a -> (2*a)](x, x) }\n"
        "model M(x: [batch, c]) -> [batch, (2*c+1)] {\n"
        "    z = Twice[a=(c+1)](linear[c -> (c+1)](x))\n"
        "    return linear[(2*(c+1)) -> (2*c+1)](z) as out\n}\n"
    )
    g = ncdl.loads(source, "m.ncd").graph()
    assert g.graph["axes"]["2*c+1"].fixed == 9
    assert g.graph["axes"]["2*(c+1)"].fixed == 10
    (out,) = [p for _, d in g.nodes(data=True) for p in d["params"] if p["name"] == "out.weight"]
    assert out["shape"] == [9, 10]


def test_a_float64_input_is_refused_with_a_clear_message() -> None:
    source = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n"
    module = ncdl.loads(source, "m.ncd").to_torch()
    with pytest.raises(InputShapeError) as info:
        module(torch.from_numpy(np.ones((2, 4))))
    assert str(info.value) == (
        "`x`: expects torch.float32 (the dtype of the module's weights), got torch.float64; "
        "convert it with .to(torch.float32) or convert the module"
    )
    assert module(torch.ones(2, 4)).dtype == torch.float32
    assert module.double()(torch.from_numpy(np.ones((2, 4)))).dtype == torch.float64


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_respect_the_umask(tmp_path, umask: int) -> None:
    from ncdl.cli import main

    source = tmp_path / "m.ncd"
    source.write_text("axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n")
    old = os.umask(umask)
    try:
        outputs = [tmp_path / "m.json", tmp_path / "m.pt", tmp_path / "m.dot", tmp_path / "m.onnx"]
        assert main(["ir", str(source), "-o", str(outputs[0])]) == 0
        assert main(["compile", str(source), "-o", str(outputs[1])]) == 0
        assert main(["render", str(source), "-o", str(outputs[2])]) == 0
        assert main(["export", str(source), "-o", str(outputs[3])]) == 0
    finally:
        os.umask(old)
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in outputs} == {
        path.name: 0o666 & ~umask for path in outputs
    }


def _error(source: str) -> str:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    return str(info.value)


IMAGE = "axis batch, c = 4, y = 8, x = 8\nmodel M(v: [batch, c, y, x]) -> [batch, c, y, x] {\n"

MESSAGES = {
    "augmented_assignment": (
        "axis n = 4\nmodel M(x: [n]) -> [n] {\n    v = x\n    v += x\n    return v\n}\n",
        "m.ncd:4:7: error[E001]: unexpected '+'\n 4 |     v += x\n   |       ^\n"
        "  help: ncdl has no `+=`: write `v = v + x`",
    ),
    "implicit_multiplication": (
        "axis n = 4, m = 4c\nmodel M(x: [n]) -> [n] { return x }\n",
        "m.ncd:1:18: error[E001]: unexpected 'c'\n 1 | axis n = 4, m = 4c\n   |                  ^\n"
        "  help: write `4 * c`: a number and a name need `*` between them",
    ),
    "missing_paren": (
        "axis n = 4\nmodel M(x: [n]) -> [n] {\n    v = relu(x\n    return v\n}\n",
        "m.ncd:3:13: error[E001]: '(' is never closed\n 3 |     v = relu(x\n   |             ^\n"
        "  help: close it with ')' (the parser stopped at 'return' on line 4)",
    ),
    "missing_bracket_at_end_of_file": (
        "axis n = 4\nmodel M(x: [n]) -> [n] {\n    return softmax[n(x)\n",
        "m.ncd:3:19: error[E001]: '[' is never closed\n 3 |     return softmax[n(x)\n   |                   ^\n"
        "  help: close it with ']' (the parser stopped at 'end of file' on end of file)",
    ),
    "positional_kernel": (
        IMAGE + "    return conv[c -> c, y, x](v, 3, padding=1)\n}\n",
        "m.ncd:3:34: error[E130]: 'conv' takes 1 tensor argument, got 2\n"
        " 3 |     return conv[c -> c, y, x](v, 3, padding=1)\n   |                                  ^\n"
        "  help: options are named: conv(..., kernel=...); its options: kernel, stride, padding, dilation, groups, bias",
    ),
    "conv_without_spatial_axes": (
        IMAGE + "    return conv[c -> c](v, kernel=3, padding=1)\n}\n",
        "m.ncd:3:16: error[E138]: 'conv' needs its spatial axes after the channel map\n"
        " 3 |     return conv[c -> c](v, kernel=3, padding=1)\n   |                ^^^^^^^^\n"
        "  help: e.g. conv[c -> c, y, x]; map one to a new axis where it changes size (y -> y2)",
    ),
    "failed_axis_does_not_cascade": (
        "axis batch, model = 10, heads = 3, head = model / heads\n"
        "model M(x: [batch, model]) -> [batch, model] {\n"
        "    return linear[heads head -> model](linear[model -> heads head](x)) / sqrt(head)\n}\n",
        "m.ncd:1:43: error[E106]: size 10 is not divisible by 3\n"
        " 1 | axis batch, model = 10, heads = 3, head = model / heads\n"
        "   |                                           ^^^^^^^^^^^^^\n"
        "  help: sizes must divide exactly; use `//` to round down",
    ),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_message(name: str) -> None:
    source, expected = MESSAGES[name]
    assert _error(source) == expected


def test_a_multi_line_call_with_a_real_mistake_is_not_blamed_on_its_bracket() -> None:
    source = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    v = concat[n -> m](x,\n        x x)\n    return v\n}\n"
    assert _error(source).startswith("m.ncd:4:11: error[E001]: unexpected 'x'")


def test_cli_version_and_demo_names(capsys) -> None:
    from ncdl import __version__
    from ncdl.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ncdl {__version__}\n"
    assert main(["demo", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    from ncdl import architectures

    trainable = [n for n in architectures.list_architectures() if architectures.load(n).models]
    assert {"cnn1d", "encoder", "gpt", "identity_resnet"} <= set(trainable)
    assert f"(default: gpt): {', '.join(trainable)} options:" in text
    assert not re.search(r"\battention,", text)  # a library file has no model to train


def test_check_help_says_it_describes_every_model(capsys) -> None:
    from ncdl.cli import main

    assert main(["check", "--help"]) == 0
    assert "(default: every model)" in " ".join(capsys.readouterr().out.split())


def test_compile_prints_code_only_when_asked(tmp_path, capsys) -> None:
    from ncdl.cli import main

    source = tmp_path / "m.ncd"
    source.write_text("axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return linear[n -> n](x) }\n")
    assert main(["compile", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("compiled M: a torch.fx.GraphModule with 20 parameters\n")
    assert main(["compile", str(source), "--print"]) == 0
    assert "def forward(self, x)" in capsys.readouterr().out


def test_run_on_a_ncd_file_says_export_it_first(tmp_path, capsys) -> None:
    from ncdl.cli import main

    assert main(["run", "model.ncd"]) == 1
    assert capsys.readouterr().err == (
        "error: model.ncd: `ncdl run` runs an exported ONNX model; export it first: "
        "ncdl export model.ncd -o model.onnx && ncdl run model.onnx -i input.npy\n"
    )


def test_the_readme_expand_example_names_a_real_instance() -> None:
    from pathlib import Path

    from ncdl import architectures

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    paths = re.findall(r"--expand ([a-z][\w.]*)`", readme)
    assert paths
    circuits = architectures.load("gpt").graph().graph["circuits"]
    assert all(p in circuits for p in paths)

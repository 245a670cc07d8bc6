"""Model families (`model B = A[...]`), parameter overrides (`--set`,
`to_torch(model, heads=8)`) and a library circuit as a model (`--circuit`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ncdl
from ncdl import architectures
from ncdl.cli import main

LIBRARY = Path(__file__).resolve().parents[2] / "ncdl" / "architectures"
BASE = (
    "axis batch, n = 4\n"
    "model A[k: int = 1, w = 8](x: [batch, n]) -> [batch, n] {\n"
    "    repeat k { x = linear[n -> n](x) }\n"
    "    return linear[w -> n](linear[n -> w](x))\n}\n"
)


def _shapes(program: ncdl.Program, model: str) -> dict[str, list[int]]:
    g = program.graph(model)
    return {p["name"]: p["shape"] for _, d in g.nodes(data=True) for p in d["params"]}


def test_a_model_declared_as_another_with_other_parameters() -> None:
    program = ncdl.loads(BASE + "model B = A[k = 2, w = 16]\n", "m.ncd")
    assert program.models == ["A", "B"]
    assert _shapes(program, "B") == {
        "blocks.0.x.weight": [4, 4],
        "blocks.0.x.bias": [4],
        "blocks.1.x.weight": [4, 4],
        "blocks.1.x.bias": [4],
        "linear.weight": [16, 4],
        "linear.bias": [16],
        "linear_1.weight": [4, 16],
        "linear_1.bias": [4],
    }
    assert _shapes(program, "A")["linear.weight"] == [8, 4]
    assert program.warnings == []


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        (
            "model B = A[kk = 2]\n",
            "m.ncd:6:13: error[E131]: 'A' has no parameter 'kk'\n 6 | model B = A[kk = 2]\n"
            "   |             ^^^^^^\n  help: did you mean 'k'?",
        ),
        (
            "model B = AA[k = 2]\n",
            "m.ncd:6:11: error[E103]: unknown model or circuit 'AA'\n 6 | model B = AA[k = 2]\n"
            "   |           ^^\n  help: did you mean 'A'?",
        ),
        (
            "model B = A[2]\n",
            "m.ncd:6:13: error[E134]: name the parameters: A[name = value, ...]\n 6 | model B = A[2]\n"
            "   |             ^",
        ),
    ],
)
def test_a_wrong_family_declaration_is_located(alias: str, expected: str) -> None:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(BASE + alias, "m.ncd")
    assert str(info.value) == expected


def test_to_torch_overrides_a_model_parameter() -> None:
    program = architectures.load("gpt")
    module = program.to_torch("GPT", heads=8)
    weight = dict(module.named_parameters())["transformer.h.0.attn.c_attn.weight"]
    assert tuple(weight.shape) == (3, 8, 16, 128)
    with pytest.raises(ncdl.NcdlError, match="'GPT' has no parameter 'hedas'"):
        program.to_torch("GPT", hedas=8)


def test_cli_set_overrides_a_model_parameter(capsys) -> None:
    assert main(["check", str(LIBRARY / "gpt.ncd"), "-m", "GPT", "--set", "heads=8"]) == 0
    assert "  transformer.h.0.attn.c_attn.weight  [three, heads, head, model]  3x8x16x128" in capsys.readouterr().out
    assert main(["check", str(LIBRARY / "gpt.ncd"), "--set", "heads"]) == 2


SCALARS = (
    "axis batch, n = 4\n"
    "model S[k: int = 1, eps: float = 1e-5, norm: bool = true](x: [batch, n]) -> [batch, n] {\n"
    "    if norm { return layernorm[n](x, eps=eps) * k }\n"
    "    return x * k\n}\n"
)


def _ops(g) -> dict[str, dict]:
    return {d["op"]: d["attrs"] for _, d in g.nodes(data=True)}


def test_float_and_bool_parameters_are_set_from_python() -> None:
    program = ncdl.loads(SCALARS, "s.ncd")
    assert _ops(program.graph("S"))["layernorm"]["eps"] == 1e-5
    assert _ops(program.graph("S", eps=1e-3))["layernorm"]["eps"] == 1e-3
    assert _ops(program.graph("S", eps=2))["layernorm"]["eps"] == 2  # an int is a number too
    assert "layernorm" not in _ops(program.graph("S", norm=False))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"k": 1.5}, "parameter 'k' of 'S' takes an integer, not 1.5"),
        ({"k": True}, "parameter 'k' of 'S' takes an integer, not true"),
        ({"eps": False}, "parameter 'eps' of 'S' takes a number, not false"),
        ({"norm": 1}, "parameter 'norm' of 'S' takes `true` or `false`, not 1"),
    ],
)
def test_a_python_value_of_the_wrong_kind_is_e142(values: dict, message: str) -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(SCALARS, "s.ncd").graph("S", **values)
    assert str(err.value) == f"error[E142]: {message}"


def test_an_axis_parameter_refuses_a_float_and_a_size_below_one() -> None:
    with pytest.raises(ncdl.NcdlError) as err:
        architectures.load("llama").graph("Llama", model=64.0)
    assert str(err.value) == "error[E142]: parameter 'model' of 'Llama' takes an axis size (an integer), not 64.0"
    for size in (0, -4):  # before: E101 'unknown axis model' at every use inside the circuits, then E107
        with pytest.raises(ncdl.NcdlError) as err:
            architectures.load("llama").graph("Llama", model=size)
        assert str(err.value) == f"error[E107]: axis parameter 'model' of 'Llama' must have a positive size, got {size}"


def test_a_family_member_with_an_axis_of_size_zero_is_one_error_at_its_value() -> None:
    # before: E107 at the base's declaration, then E101 'unknown axis' at each use of w in the body
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(BASE + "model B = A[w = 0]\n", "m.ncd").graph("B")
    assert str(err.value) == (
        "m.ncd:6:17: error[E107]: axis 'w' must have a positive size, got 0\n"
        " 6 | model B = A[w = 0]\n"
        "   |                 ^"
    )


def test_cli_set_takes_numbers_and_booleans(tmp_path, capsys) -> None:
    path = tmp_path / "s.ncd"
    path.write_text(SCALARS)
    assert main(["ir", str(path), "--set", "eps=1e-3", "--set", "k=-2", "-o", str(tmp_path / "ir.json")]) == 0
    ir = (tmp_path / "ir.json").read_text()
    assert '"eps": 0.001' in ir and '"layernorm"' in ir
    assert main(["ir", str(path), "--set", "norm=false", "-o", str(tmp_path / "ir2.json")]) == 0
    assert '"layernorm"' not in (tmp_path / "ir2.json").read_text()
    capsys.readouterr()
    assert main(["check", str(path), "--set", "k=0.5"]) == 1
    assert capsys.readouterr().err == "error[E142]: parameter 'k' of 'S' takes an integer, not 0.5\n"
    assert main(["check", str(path), "--set", "norm=yes"]) == 2
    assert "--set norm=yes: write NAME=VALUE with an integer, a number (1e-5) or true/false" in capsys.readouterr().err


def test_a_library_circuit_compiles_and_renders_as_a_model(tmp_path, capsys) -> None:
    path = str(LIBRARY / "attention.ncd")
    program = ncdl.load(path).circuit("MultiHeadAttention", model=16, heads=2)
    assert program.models == ["MultiHeadAttention"]
    assert sorted(program.graph().graph["bindings"]) == ["key", "query"]  # left free
    assert main(["compile", path, "--circuit", "Attention", "--axis", "head=8", "--print"]) == 0
    assert "scaled_dot_product_attention" in capsys.readouterr().out
    out = tmp_path / "mha.svg"
    assert (
        main(
            ["render", path, "--circuit", "MultiHeadAttention", "--set", "model=16", "--set", "heads=2", "-o", str(out)]
        )
        == 0
    )
    assert out.read_text().startswith("<?xml")


def test_a_circuit_with_unset_parameters_says_how_to_set_them(capsys) -> None:
    assert main(["compile", str(LIBRARY / "attention.ncd"), "--circuit", "Attention"]) == 1
    err = capsys.readouterr().err
    assert "error[E109]: axis 'head' has no fixed size" in err
    assert err.rstrip().endswith(
        "note: 'Attention' was checked with query, key, head left free (no value given); give values with --set NAME=VALUE"
    )

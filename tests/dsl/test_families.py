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

"""Every bundled architecture checks, lowers to torch and runs; the loader finds them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from arch_inputs import LARGE, outputs, param_names, sample_inputs

import ncdl
from ncdl import architectures, ir

LIBRARIES = {"attention", "transformer", "convnets"}


def _models() -> list[tuple[str, str]]:
    return [(name, m) for name in architectures.list_architectures() for m in architectures.load(name).models]


def test_the_library_lists_every_bundled_file() -> None:
    names = architectures.list_architectures()
    assert names == sorted(p.stem for p in Path(architectures.FOLDER).glob("*.ncd"))
    assert {"gpt", "resnet", "vit", "unet", "mlp", "mha"} | LIBRARIES <= set(names)


@pytest.mark.parametrize("name", architectures.list_architectures())
def test_every_bundled_file_checks(name: str) -> None:
    program = ncdl.load(architectures.path(name))
    if name in LIBRARIES:
        assert program.models == []
    else:
        assert program.models, f"{name}.ncd declares no model"
        for model in program.models:
            ir.verify(program.graph(model))


@pytest.mark.parametrize(("name", "model"), [m for m in _models() if m[1] not in LARGE])
def test_every_model_runs_in_torch(name: str, model: str) -> None:
    program = architectures.load(name)
    g = program.graph(model)
    gm = program.to_torch(model).eval()
    results = outputs(gm(*sample_inputs(g)))
    assert len(results) == len(g.graph["outputs"])
    for out, node in zip(results, g.graph["outputs"], strict=True):
        assert torch.isfinite(out).all()
        assert len(out.shape) == len(g.nodes[node]["axes"])


def test_path_accepts_the_name_with_or_without_suffix() -> None:
    assert architectures.path("gpt") == architectures.path("gpt.ncd") == architectures.FOLDER / "gpt.ncd"


def test_an_unknown_name_is_one_clear_line() -> None:
    with pytest.raises(ValueError, match=r"no bundled architecture 'gtp'; did you mean 'gpt'\?"):
        architectures.path("gtp")


def test_load_returns_the_checked_program() -> None:
    assert architectures.load("resnet").models == ["ResNet18", "ResNet34", "ResNet50"]


def test_the_default_gpt_is_the_last_model_of_gpt_ncd() -> None:
    program = architectures.load("gpt")
    assert program.models[-1] == "GPT"
    g = program.graph()
    axes = g.graph["axes"]
    assert axes["seq"].bound == 128
    shapes = {p["name"]: p["shape"] for p in ir.all_params(g)}
    assert shapes["transformer.wte.weight"] == [65, 128]
    assert shapes["transformer.wpe.weight"] == [128, 128]
    assert shapes["transformer.h.0.attn.c_attn.weight"] == [3, 4, 32, 128]
    assert {n.split(".")[2] for n in shapes if n.startswith("transformer.h.")} == {"0", "1", "2", "3"}
    assert "lm_head.weight" in param_names(g) and "lm_head.weight" not in shapes  # tied to wte


def test_a_user_file_elsewhere_uses_the_bundled_circuits(tmp_path: Path) -> None:
    source = tmp_path / "mine.ncd"
    source.write_text(
        'use "transformer.ncd"\n'
        "axis batch\naxis seq <= 64\naxis model = 32, heads = 2, hidden = 64\n"
        "model Mine(x: [batch, seq, model]) -> [batch, seq, model] {\n"
        "    repeat 2 { x = PreNormEncoderLayer(x) }\n"
        "    return x\n"
        "}\n"
    )
    g = ncdl.load(source).graph()
    names = param_names(g)
    assert "blocks.1.self_attn.out_proj.weight" in names
    assert "blocks.0.linear1.bias" in names


def test_a_circuit_is_broadcast_over_the_callers_extra_axes() -> None:
    text = (
        'use "attention.ncd"\n'
        "axis batch, group\naxis q = 5, kv = 6, d = 8\n"
        "model M(a: [batch, group, q, d], b: [batch, group, kv, d]) -> [batch, group, q, d] {\n"
        "    return Attention[query=q, key=kv, head=d](a, b, b)\n"
        "}\n"
    )
    g = ncdl.loads(text).graph()
    a, b = sample_inputs(g)
    out = ncdl.loads(text).to_torch()(a, b)
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(a, b, b))

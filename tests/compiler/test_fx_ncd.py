"""Programs written in ncdl (the language reference's examples, the bundled architectures) run as torch modules."""

from __future__ import annotations

import math
import re
from pathlib import Path

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from fx_compare import assert_matches

import ncdl
from ncdl.ir import param_count

ROOT = Path(__file__).resolve().parents[2]
DOC_BLOCKS = [
    b
    for b in re.findall(r"```ncdl\n(.*?)```", (ROOT / "docs" / "language.md").read_text(), re.S)
    if not b.startswith("# error")
]
ARCHITECTURES = sorted((ROOT / "ncdl" / "architectures").glob("*.ncd"))


def _inputs(g: nx.MultiDiGraph, free: int) -> tuple[list[torch.Tensor], dict[str, int]]:
    """Random inputs with every free root axis at ``free`` (or its bound if smaller)."""
    axes = g.graph["axes"]
    roots = {r: min(free, axes[r].bound or free) for r in g.graph["bindings"]}
    tensors = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = [axes[a].size.evaluate(roots) for a in data["axes"]]
        if data["dtype"] == "int64":
            of = axes[data["attrs"]["of"]]
            tensors.append(torch.randint(0, of.fixed or of.size.evaluate(roots), shape))
        elif data["dtype"] == "bool":
            tensors.append(torch.rand(shape) > 0.5)
        else:
            tensors.append(torch.randn(shape))
    return tensors, roots


def _runs_at_two_sizes(program: ncdl.Program, model: str) -> None:
    g = program.graph(model)
    gm = program.to_torch(model).eval()
    gm.graph.lint()
    assert type(gm).__name__ == model
    for free in (3, 4):  # a size every box accepts (a slice [1:-1] of 2 would be empty: refused on the inputs)
        inputs, roots = _inputs(g, free)
        result = gm(*inputs)
        outs = (result,) if isinstance(result, torch.Tensor) else result
        for out, node in zip(outs, g.graph["outputs"], strict=True):
            want = [g.graph["axes"][a].size.evaluate(roots) for a in g.nodes[node]["axes"]]
            assert list(out.shape) == want, f"{model}: output {g.nodes[node]['name']}"
            assert not out.isnan().any()


@pytest.mark.parametrize("index", range(len(DOC_BLOCKS)))
def test_language_reference_examples_run(index: int) -> None:
    program = ncdl.loads(DOC_BLOCKS[index], "language.md")
    for model in program.models:
        _runs_at_two_sizes(program, model)


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.name)
def test_bundled_architectures_run(path: Path) -> None:
    program = ncdl.load(path)
    for model in program.models:
        if param_count(program.graph(model)) < 5_000_000:  # the full-size models are for export, not for this test
            _runs_at_two_sizes(program, model)


def _gpt_reference(p: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """nanoGPT's forward, written out by hand (4 layers, 128 wide, 4 heads)."""
    b, t = tokens.shape
    c, h = 128, 4
    wte, wpe = p["transformer.wte.weight"], p["transformer.wpe.weight"]
    x = F.embedding(tokens, wte) + F.embedding(torch.arange(t), wpe)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    for i in range(4):
        pre = f"transformer.h.{i}."
        y = F.layer_norm(x, (c,), p[pre + "ln_1.weight"], p[pre + "ln_1.bias"])
        qkv = F.linear(y, p[pre + "attn.c_attn.weight"].reshape(3 * c, c), p[pre + "attn.c_attn.bias"].reshape(3 * c))
        q, k, v = (part.view(b, t, h, c // h).transpose(1, 2) for part in qkv.split(c, dim=2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // h)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        x = x + F.linear(y, p[pre + "attn.c_proj.weight"].reshape(c, c), p[pre + "attn.c_proj.bias"])
        y = F.layer_norm(x, (c,), p[pre + "ln_2.weight"], p[pre + "ln_2.bias"])
        y = F.gelu(F.linear(y, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]), approximate="tanh")
        x = x + F.linear(y, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (c,), p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    return F.linear(x, wte)  # lm_head is tied to wte


def test_gpt_matches_a_hand_written_nanogpt_forward() -> None:
    program = ncdl.load(ROOT / "ncdl" / "architectures" / "gpt.ncd")
    torch.manual_seed(0)
    gm = program.to_torch("GPT")
    assert gm.get_parameter("lm_head.weight") is gm.get_parameter("transformer.wte.weight")
    blocks = [m for m in gm.modules() if isinstance(m, torch.fx.GraphModule)]
    assert sum(m.code.count("scaled_dot_product_attention") for m in blocks) == 4
    for batch, seq in [(2, 7), (1, 12)]:
        # four layers of fp32 accumulate more rounding than one op: 1e-4
        assert_matches(gm, _gpt_reference, torch.randint(0, 65, (batch, seq)), tol=1e-4)

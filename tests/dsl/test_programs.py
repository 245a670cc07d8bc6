"""The issue's reference programs check, with the parameter counts of the
equivalent torch.nn modules (counted from torch, not from constants)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import ncdl
from ncdl import ir

PROGRAMS = Path(__file__).parent / "programs"


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def ncdl_count(name: str) -> int:
    return ir.param_count(ncdl.load(PROGRAMS / name).graph())


class TorchGPT(nn.Module):
    """The GPT of DESIGN.md in torch.nn: tied head, learned positions up to 256."""

    def __init__(self, vocab: int = 65, model: int = 128, heads: int = 4, layers: int = 4, positions: int = 256):
        super().__init__()
        self.tok = nn.Embedding(vocab, model)
        self.pos = nn.Parameter(torch.zeros(positions, model))
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "ln1": nn.LayerNorm(model),
                    "qkv": nn.Linear(model, 3 * model, bias=False),
                    "proj": nn.Linear(model, model),
                    "ln2": nn.LayerNorm(model),
                    "fc": nn.Linear(model, 4 * model),
                    "out": nn.Linear(4 * model, model),
                }
            )
            for _ in range(layers)
        )
        self.ln_f = nn.LayerNorm(model)
        self.head = nn.Linear(model, vocab, bias=False)
        self.head.weight = self.tok.weight


def test_gpt_matches_torch_count() -> None:
    assert ncdl_count("gpt.ncd") == count(TorchGPT())


def test_cross_attention_is_nn_multihead_attention() -> None:
    assert ncdl_count("cross_attention.ncd") == count(nn.MultiheadAttention(128, 4))


def test_resnet_basic_block_with_downsampling() -> None:
    block = nn.Sequential(
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.Conv2d(128, 128, 3, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.Conv2d(64, 128, 1, stride=2, bias=False),
        nn.BatchNorm2d(128),
    )
    assert ncdl_count("resnet_block.ncd") == count(block)


def test_unet_stage_with_skip_concat() -> None:
    stage = nn.Sequential(
        nn.ConvTranspose2d(128, 64, 2, stride=2),
        nn.Conv2d(128, 64, 3, padding=1),
        nn.Conv2d(64, 64, 3, padding=1),
    )
    assert ncdl_count("unet_stage.ncd") == count(stage)


def test_resnet_block_axes_and_shapes() -> None:
    g = ncdl.load(PROGRAMS / "resnet_block.ncd").graph()
    out = g.nodes[g.graph["outputs"][0]]
    assert out["axes"] == ["batch", "d", "y2", "x2"]
    assert g.graph["axes"]["y2"].fixed == 16
    shapes = {p["name"]: p["shape"] for p in ir.all_params(g)}
    assert shapes["basic_block.conv1.weight"] == [128, 64, 3, 3]
    assert shapes["basic_block.shortcut.weight"] == [128, 64, 1, 1]


def test_gpt_instance_paths_and_tie() -> None:
    g = ncdl.load(PROGRAMS / "gpt.ncd").graph()
    names = [p["name"] for n in ir.topological(g) for p in g.nodes[n]["params"]]
    assert names[:3] == ["tok.weight", "pos", "blocks.0.ln1.weight"]
    assert "blocks.3.attn.q.weight" in names and "blocks.3.mlp.fc.bias" in names
    head = next(p for n in g.nodes for p in g.nodes[n]["params"] if p["name"] == "head.weight")
    assert head["tied_to"] == "tok.weight"


def test_cross_attention_broadcasts_over_heads() -> None:
    g = ncdl.load(PROGRAMS / "cross_attention.ncd").graph()
    contracts = [g.nodes[n]["axes"] for n in ir.topological(g) if g.nodes[n]["op"] == "contract"]
    assert contracts == [["batch", "heads", "y", "x"], ["batch", "heads", "y", "k"]]

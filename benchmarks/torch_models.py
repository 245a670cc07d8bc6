"""Idiomatic hand-written torch.nn models the benchmarks compare ncdl against.

Each follows the layout a PyTorch user would write (nanoGPT's GPT,
torchvision's ResNet-18 and ViT-B/16), so that ncdl's compiled module is
measured against what people actually run. ``ncdl_twin`` builds the ncdl
module of the same shape and copies these weights into it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

import ncdl
from ncdl import architectures
from ncdl.architectures.mappings import nanogpt, torch_mha, torchvision_resnet
from ncdl.weights import load_torch_state_dict

# ---- GPT (nanoGPT) -------------------------------------------------------------


class GPTBlock(nn.Module):
    """Pre-norm decoder block with a fused q/k/v projection and SDPA."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d)})
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.attn["c_attn"](self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn["c_proj"](y.transpose(1, 2).contiguous().view(b, t, d))
        h = self.mlp["c_fc"](self.ln_2(x))
        return x + self.mlp["c_proj"](F.gelu(h, approximate="tanh"))


class GPT(nn.Module):
    """nanoGPT: token + learned position embeddings, blocks, final norm, tied head."""

    def __init__(self, vocab: int, ctx: int, d: int, heads: int, layers: int) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab, d),
                "wpe": nn.Embedding(ctx, d),
                "h": nn.ModuleList(GPTBlock(d, heads) for _ in range(layers)),
                "ln_f": nn.LayerNorm(d),
            }
        )
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = t["wte"](tokens) + t["wpe"](pos)
        for block in t["h"]:
            x = block(x)
        return self.lm_head(t["ln_f"](x))


# ---- ResNet-18 (torchvision) ------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) identity shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 (1000 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = 64
        for i, width in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            self.add_module(f"layer{i + 1}", nn.Sequential(BasicBlock(c, width, stride), BasicBlock(width, width, 1)))
            c = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- ViT-B/16 (torchvision) ---------------------------------------------------------


class EncoderBlock(nn.Module):
    """Pre-norm block with nn.MultiheadAttention and an exact-GELU MLP."""

    def __init__(self, d: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.self_attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """torchvision's VisionTransformer (ViT-B/16 by default)."""

    def __init__(
        self, image: int = 224, patch: int = 16, d: int = 768, heads: int = 12, hidden: int = 3072, layers: int = 12
    ) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, d, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, d) * 0.02)
        self.layers = nn.Sequential(*(EncoderBlock(d, heads, hidden) for _ in range(layers)))
        self.ln = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, 1000)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.layers(x))[:, 0])


def randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm random affine weights and running statistics, as after training.

    Fresh ones are the identity, which exporters fold away entirely (a zero
    bias is dropped), so an untrained model would not show a real model's cost.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1 + torch.rand(m.running_var.shape, generator=gen))
    return module


# ---- the ncdl twins ---------------------------------------------------------------


def resnet_program(image: int) -> ncdl.Program:
    """``resnet.ncd`` with ``image`` x ``image`` inputs instead of 224 x 224."""
    path = architectures.path("resnet")
    text = path.read_text().replace("y = 224, x = 224", f"y = {image}, x = {image}")
    return ncdl.loads(text, str(path))


def ncdl_twin(kind: str, reference: nn.Module, program: ncdl.Program, model: str) -> torch.fx.GraphModule:
    """ncdl's module for ``model`` holding ``reference``'s weights."""
    module = program.to_torch(model)
    mapping: Callable | dict | None
    if kind == "gpt":
        mapping = nanogpt
    elif kind == "resnet":
        mapping = torchvision_resnet
    else:
        mapping = {}
        for i in range(len(reference.layers)):
            mapping.update(torch_mha(f"layers.{i}.self_attention", f"layers.{i}.self_attention"))
            mapping[f"layers.{i}.linear_1"] = f"layers.{i}.mlp.0"
            mapping[f"layers.{i}.linear_2"] = f"layers.{i}.mlp.2"
    load_torch_state_dict(module, reference.state_dict(), mapping)
    return module

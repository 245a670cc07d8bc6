"""architectures/dit.ncd against DiT blocks written here from the paper's definition.

Peebles & Xie 2023 ("Scalable Diffusion Models with Transformers"): a timestep t is embedded
as [cos(t·f), sin(t·f)] with f = 10000^(-i/half), i = 0 … half−1, then Linear, SiLU, Linear;
each block regresses shift, scale and gate for the attention and the MLP branch from the
conditioning through SiLU and Linear(hidden, 6·hidden), initialised to zero (adaLN-Zero), and
computes x + gate·branch(LayerNorm(x)·(1 + scale) + shift), the layer norms without weights.
"""

from __future__ import annotations

import math

import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error
from torch import nn

import ncdl
from ncdl import architectures

HIDDEN, HEADS, FREQ, DEPTH = 32, 4, 256, 2
SIZES = [(1, 4), (3, 9)]  # (batch, tokens): two sizes of each free axis


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimestepEmbedder(nn.Module):
    """Sinusoids of a continuous timestep, then a two-layer SiLU MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(FREQ, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = FREQ // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class Attention(nn.Module):
    """Multi-head self-attention with one fused q, k, v projection (laid out [3, heads, head])."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.proj = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (c // HEADS) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(HIDDEN, 4 * HIDDEN)
        self.fc2 = nn.Linear(4 * HIDDEN, HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """A transformer block conditioned by adaptive layer norm with zero-initialised gates."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(HIDDEN, elementwise_affine=False, eps=1e-6)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(HIDDEN, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(HIDDEN, 6 * HIDDEN))
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(_modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(_modulate(self.norm2(x), shift_mlp, scale_mlp))


class DiT(nn.Module):
    """The timestep embedder and a stack of DiT blocks (no patch embedding, no final layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.t_embedder = TimestepEmbedder()
        self.blocks = nn.ModuleList(DiTBlock() for _ in range(DEPTH))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.t_embedder(t)
        for block in self.blocks:
            x = block(x, c)
        return x


def _reference() -> DiT:
    """The reference with random weights of std 1/sqrt(fan_in), the adaLN maps included.

    That is 1.7 times torch.nn's default and makes the blocks change x by about as much as x
    itself, so every branch and gate shows. Much wider weights make the model ill-conditioned:
    exp and sin of t·f (t up to 1000) differ by an ulp between torch and onnxruntime, which
    the blocks then amplify past 1e-5 (with every weight at std 0.3, the reference's own
    torch.onnx.export in onnxruntime misses its torch output by 1.1e-5 relative).
    """
    torch.manual_seed(0)
    ref = DiT().eval()
    with torch.no_grad():
        for p in ref.parameters():
            fan_in = p.shape[1] if p.dim() == 2 else HIDDEN
            p.normal_(0.0, fan_in**-0.5)
    return ref


def _inputs(batch: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(batch * 10 + tokens)
    return torch.randn(batch, tokens, HIDDEN, generator=generator), torch.rand(batch, generator=generator) * 1000


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("dit").to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())


def test_fresh_blocks_start_as_the_identity_like_the_reference() -> None:
    torch.manual_seed(0)
    gm, ref = architectures.load("dit").to_torch(), DiT()
    for name, p in gm.named_parameters():
        assert ("adaLN_modulation" in name) == (not p.detach().any()), name
    x, t = _inputs(3, 9)
    with torch.no_grad():
        assert torch.equal(gm(x, t), x) and torch.equal(ref(x, t), x)


@pytest.mark.parametrize(("batch", "tokens"), SIZES)
def test_torch_and_onnxruntime_match_the_paper_definition(batch: int, tokens: int) -> None:
    ref, program = _reference(), architectures.load("dit")
    gm = program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x, t = _inputs(batch, tokens)
    with torch.no_grad():
        want = ref(x, t).numpy()
        got = gm(x, t).numpy()
    assert relative_error(got, want) < 1e-5
    model = program.to_onnx(state_dict=gm.state_dict())
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x.numpy(), "t": t.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


@pytest.mark.parametrize(
    ("change", "by"),
    [("(cos(angle), sin(angle))", "(sin(angle), cos(angle))"), ("* (1 + scale)", "* scale")],
    ids=["sin-cos-swapped", "scale-without-one"],
)
def test_negative_control_one_change_does_not_match(change: str, by: str) -> None:
    source = architectures.path("dit").read_text()
    assert change in source
    program = ncdl.loads(source.replace(change, by), "dit_changed.ncd")
    ref, gm = _reference(), program.to_torch()
    gm.load_state_dict(ref.state_dict(), strict=True)
    x, t = _inputs(3, 9)
    with torch.no_grad():
        assert relative_error(gm(x, t).numpy(), ref(x, t).numpy()) > 1e-2

"""Hand-written torch.nn equivalents of the bundled architectures: the one set of torch references.

Each class follows the layout and parameter names of the well-known torch
implementation it stands for (torchvision, nanoGPT, torch.nn), written from
the architecture's description; the ViT is transformers' own. The tests compare every bundled model with
its reference here (``tests/architectures/test_arch_*.py``), and the
benchmarks (``benchmarks/torch_models.py``) measure ncdl against the same
classes, so what is benchmarked is what is tested.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every parameter and float buffer with random values (variances positive)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                continue
            values = torch.randn(t.shape, generator=gen) * 0.2
            if name.endswith("running_var"):
                values = values.abs() + 0.5
            t.copy_(values)
    return module


def count(module: nn.Module) -> int:
    """Learned scalars of a torch module (shared tensors once)."""
    return sum(p.numel() for p in module.parameters())


# ---- MLPs -----------------------------------------------------------------------


class MLP(nn.Module):
    """The paper's image classifier: 784 -> 512 -> 512 -> 10, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 512), nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return F.softmax(self.fc3(x), dim=-1)


class FeedForward(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.relu(self.linear1(x)))


class ResidualMLP(nn.Module):
    def __init__(self, d: int = 128, hidden: int = 512) -> None:
        super().__init__()
        self.mlp = FeedForward(d, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x)


# ---- attention -------------------------------------------------------------------


class PaperMHA(nn.Module):
    """Multi-head attention without biases, head size independent of the model width."""

    def __init__(self, m: int = 128, heads: int = 4, head: int = 16) -> None:
        super().__init__()
        self.heads, self.head = heads, head
        self.q, self.k, self.v = (nn.Linear(m, heads * head, bias=False) for _ in range(3))
        self.o = nn.Linear(heads * head, m, bias=False)

    def split(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.heads, self.head)).transpose(1, 2)

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor, causal: bool = False) -> torch.Tensor:
        q, k, v = self.split(self.q(xq)), self.split(self.k(xkv)), self.split(self.v(xkv))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.o(out.transpose(1, 2).flatten(2))


class PaperMHAModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = PaperMHA()

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor) -> torch.Tensor:
        return self.attn(xq, xkv)


class VisualAttention(nn.Module):
    """Strided-conv patches of two images, attention across them, transposed conv back."""

    def __init__(self, c: int = 3, d: int = 64, s: int = 4, heads: int = 4, head: int = 16) -> None:
        super().__init__()
        self.heads, self.head = heads, head
        self.conv_q, self.conv_kv = nn.Conv2d(c, d, s, s), nn.Conv2d(c, d, s, s)
        self.q, self.k, self.v = (nn.Linear(d, heads * head, bias=False) for _ in range(3))
        self.o = nn.Linear(heads * head, d, bias=False)
        self.deconv = nn.ConvTranspose2d(d, c, s, s)

    def forward(self, image: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        fq, fc = self.conv_q(image), self.conv_kv(context)
        grid = fq.shape[-2:]
        fq, fc = fq.flatten(2).transpose(1, 2), fc.flatten(2).transpose(1, 2)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.heads, self.head)).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q(fq)), split(self.k(fc)), split(self.v(fc)))
        out = self.o(out.transpose(1, 2).flatten(2))
        return self.deconv(out.transpose(1, 2).unflatten(-1, grid))


# ---- GPT (nanoGPT's layout and names) ----------------------------------------------


class CausalSelfAttention(nn.Module):
    """One fused q/k/v projection ``c_attn``, split in three, then per-head causal attention."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.n_head, self.n_embd = heads, d
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.unflatten(-1, (self.n_head, -1)).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(out.transpose(1, 2).flatten(2))


class GPTMLP(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), CausalSelfAttention(d, heads)
        self.ln_2, self.mlp = nn.LayerNorm(d), GPTMLP(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int = 65, ctx: int = 128, d: int = 128, heads: int = 4, layers: int = 4) -> None:
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
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        x = t.wte(tokens) + t.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x))


# ---- ViT (transformers' ViTForImageClassification) ---------------------------------------


class ViT(nn.Module):
    """transformers' ViTForImageClassification returning the logits: its modules and names
    (``vit.embeddings.cls_token``, ``vit.layers.0.attention.q_proj``, ``classifier``)."""

    def __init__(
        self,
        image: int = 32,
        patch: int = 4,
        d: int = 128,
        heads: int = 4,
        hidden: int = 512,
        layers: int = 4,
        classes: int = 10,
    ) -> None:
        super().__init__()
        import transformers  # an optional test dependency; only this reference needs it

        config = transformers.ViTConfig(
            image_size=image,
            patch_size=patch,
            hidden_size=d,
            num_attention_heads=heads,
            intermediate_size=hidden,
            num_hidden_layers=layers,
            num_labels=classes,
        )
        full = transformers.ViTForImageClassification(config)
        self.vit, self.classifier = full.vit, full.classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.vit(pixel_values=image).last_hidden_state[:, 0])


# ---- ResNets (torchvision's layout and names) ----------------------------------------------


def _downsample(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)
        self.conv2, self.bn2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out)
        self.downsample = _downsample(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x), inplace=True)


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        w = c_out // 4
        self.conv1, self.bn1 = nn.Conv2d(c_in, w, 1, bias=False), nn.BatchNorm2d(w)
        self.conv2, self.bn2 = nn.Conv2d(w, w, 3, stride, 1, bias=False), nn.BatchNorm2d(w)
        self.conv3, self.bn3 = nn.Conv2d(w, c_out, 1, bias=False), nn.BatchNorm2d(c_out)
        self.downsample = _downsample(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)), inplace=True)
        h = F.relu(self.bn2(self.conv2(h)), inplace=True)
        h = self.bn3(self.conv3(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x), inplace=True)


class ResNet(nn.Module):
    """torchvision's ResNet for 1000 classes: ``ResNet(BasicBlock, [2, 2, 2, 2], 1)`` is ResNet-18."""

    def __init__(self, block: type[nn.Module], depths: list[int], expansion: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        c = 64
        for i, (n, width) in enumerate(zip(depths, [64, 128, 256, 512], strict=True)):
            c_out = width * expansion
            blocks = [block(c, c_out, 1 if i == 0 else 2)] + [block(c_out, c_out, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            c = c_out
        self.fc = nn.Linear(c, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x)), inplace=True), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean(dim=(2, 3)))


def resnet18() -> ResNet:
    """torchvision's ResNet-18 layout."""
    return ResNet(BasicBlock, [2, 2, 2, 2], 1)


def resnet50() -> ResNet:
    """torchvision's ResNet-50 layout."""
    return ResNet(Bottleneck, [3, 4, 6, 3], 4)


class PreActBottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        w = c_out // 4
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, w, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(w), nn.Conv2d(w, w, 3, stride, 1, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm2d(w), nn.Conv2d(w, c_out, 1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride > 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        h = self.conv1(a)
        h = self.conv2(F.relu(self.bn2(h)))
        h = self.conv3(F.relu(self.bn3(h)))
        return h + (self.shortcut(a) if self.shortcut is not None else x)


class PreActStage(nn.Module):
    """A stage named like ncdl's ``PreActStage``: ``first`` then ``blocks.i``."""

    def __init__(self, c_in: int, c_out: int, stride: int, n: int) -> None:
        super().__init__()
        self.first = PreActBottleneck(c_in, c_out, stride)
        self.blocks = nn.ModuleList(PreActBottleneck(c_out, c_out, 1) for _ in range(n - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        for block in self.blocks:
            x = block(x)
        return x


class IdentityResNet(nn.Module):
    def __init__(self, n: tuple[int, ...] = (16, 64, 128, 256), depth: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, n[0], 3, 1, 1, bias=False)
        self.stage1 = PreActStage(n[0], n[1], 1, depth)
        self.stage2 = PreActStage(n[1], n[2], 2, depth)
        self.stage3 = PreActStage(n[2], n[3], 2, depth)
        self.bn, self.fc = nn.BatchNorm2d(n[3]), nn.Linear(n[3], 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.conv1(x))))
        x = F.avg_pool2d(F.relu(self.bn(x)), 8).flatten(1)
        return F.softmax(self.fc(x), dim=-1)


# ---- U-Net and 1-D CNN ------------------------------------------------------------------


class DoubleConv(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class UNetLevel(nn.Module):
    def __init__(self, c_in: int, c: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.down = DoubleConv(c_in, c)
        if depth > 0:
            self.inner = UNetLevel(c, 2 * c, depth - 1)
            self.up = nn.ConvTranspose2d(2 * c, c, 2, 2)
            self.conv = DoubleConv(2 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.down(x)
        if self.depth == 0:
            return skip
        up = self.up(self.inner(F.max_pool2d(skip, 2)))
        return self.conv(torch.cat([skip, up], dim=1))


class UNet(nn.Module):
    def __init__(self, depth: int = 2, width: int = 8, channels: int = 1, classes: int = 2) -> None:
        super().__init__()
        self.unet = UNetLevel(channels, width, depth)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.unet(x))


class TextCNN(nn.Module):
    def __init__(self, vocab: int = 256, d: int = 64, c: int = 128, classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.conv1, self.conv2 = nn.Conv1d(d, c, 5, padding=2), nn.Conv1d(c, c, 5, padding=2)
        self.fc = nn.Linear(c, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.amax(dim=-1))


#: Bundled models and their torch.nn twins: (architecture, model, a maker of the twin).
TWINS: list[tuple[str, str, Callable[[], nn.Module]]] = [
    ("mlp", "MLP", MLP),
    ("mlp", "ResidualMLP", ResidualMLP),
    ("mha", "MultiHead", PaperMHAModel),
    ("encoder", "PostNormEncoder", lambda: nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)),
    ("encoder", "PreNormEncoder", lambda: nn.TransformerEncoderLayer(128, 4, 512, batch_first=True, norm_first=True)),
    ("gpt", "GPT", GPT),
    ("vit", "ViT", ViT),
    ("resnet", "ResNet18", resnet18),
    ("resnet", "ResNet50", resnet50),
    ("identity_resnet", "IdentityResNet", IdentityResNet),
    ("unet", "UNetSmall", UNet),
    ("unet", "UNet", lambda: UNet(depth=4, width=64)),
    ("cnn1d", "TextCNN", TextCNN),
    ("visual_attention", "VisualAttention", VisualAttention),
]

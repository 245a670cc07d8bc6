"""Weight mappings from well-known torch checkpoints to the bundled architectures.

Each function gives :func:`ncdl.weights.load_torch_state_dict` its ``mapping``
(or entries of one) for one family of torch models: nanoGPT for ``gpt.ncd``,
torchvision's ResNet and VisionTransformer for ``resnet.ncd`` and ``vit.ncd``, and ``torch.nn.MultiheadAttention``
for the ``SelfAttention`` circuit of ``attention.ncd``. They are plain name
rules and do not import torch.

Example:
    >>> load_torch_state_dict(gpt_module, nanogpt_checkpoint, nanogpt)
    []
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the loader imports torch; these rules need only its type
    from ncdl.weights import Source

__all__ = ["nanogpt", "torch_mha", "torchvision_resnet", "torchvision_vit"]


def torch_mha(ncdl_prefix: str, torch_prefix: str) -> dict[str, Source]:
    """Mapping entries loading a ``torch.nn.MultiheadAttention`` into ncdl's attention.

    The torch module at ``torch_prefix`` keeps q, k and v in one fused
    ``in_proj_weight`` / ``in_proj_bias``; ncdl's ``SelfAttention`` at
    ``ncdl_prefix`` has ``q``, ``k``, ``v`` and ``out_proj`` instances.
    """
    at = f"{torch_prefix}." if torch_prefix else ""
    out: dict[str, Source] = {f"{ncdl_prefix}.out_proj": f"{at}out_proj"}
    for i, part in enumerate("qkv"):
        out[f"{ncdl_prefix}.{part}.weight"] = (f"{at}in_proj_weight", i, 3)
        out[f"{ncdl_prefix}.{part}.bias"] = (f"{at}in_proj_bias", i, 3)
    return out


def torchvision_resnet(name: str) -> str:
    """The torchvision ResNet name of a parameter of ``resnet.ncd``'s models.

    ``layer2.first.downsample.conv.weight`` -> ``layer2.0.downsample.0.weight``;
    ``layer2.blocks.0.conv1.weight`` -> ``layer2.1.conv1.weight``. Use it as
    ``mapping`` for :func:`load_torch_state_dict`.
    """
    name = re.sub(r"^(layer\d+)\.first\.", r"\1.0.", name)
    name = re.sub(r"^(layer\d+)\.blocks\.(\d+)\.", lambda m: f"{m[1]}.{int(m[2]) + 1}.", name)
    return name.replace(".downsample.conv.", ".downsample.0.").replace(".downsample.bn.", ".downsample.1.")


def nanogpt(name: str) -> Source:
    """The source of a parameter of ``gpt.ncd``'s models in a nanoGPT checkpoint.

    nanoGPT keeps its blocks under ``transformer.`` and fuses q, k and v into
    ``attn.c_attn`` (an ``nn.Linear``); everything else has the same name.
    """
    fused = re.match(r"^(h\.\d+\.attn)\.([qkv])\.(weight|bias)$", name)
    if fused:
        return (f"transformer.{fused[1]}.c_attn.{fused[3]}", "qkv".index(fused[2]), 3)
    if name == "wpe":  # a bare `param` in ncdl, an nn.Embedding in nanoGPT
        return "transformer.wpe.weight"
    return name if name.startswith("lm_head.") else f"transformer.{name}"


def torchvision_vit(layers: int) -> dict[str, Source]:
    """Mapping entries loading torchvision's ``VisionTransformer`` with ``layers`` encoder blocks into ``vit.ncd``'s models.

    torchvision keeps the blocks under ``encoder.layers.encoder_layer_<i>`` (each with an
    ``nn.MultiheadAttention`` and an MLP ``Sequential`` whose linears are items 0 and 3),
    the position embedding and final norm under ``encoder.``, and the classifier at ``heads.head``.
    """
    out: dict[str, Source] = {"pos_embedding": "encoder.pos_embedding", "ln": "encoder.ln", "head": "heads.head"}
    for i in range(layers):
        at = f"encoder.layers.encoder_layer_{i}"
        out.update(torch_mha(f"layers.{i}.self_attention", f"{at}.self_attention"))
        out.update({f"layers.{i}.ln_1": f"{at}.ln_1", f"layers.{i}.ln_2": f"{at}.ln_2"})
        out.update({f"layers.{i}.linear_1": f"{at}.mlp.0", f"layers.{i}.linear_2": f"{at}.mlp.3"})
    return out

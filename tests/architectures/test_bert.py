"""architectures/bert.ncd against transformers' BertModel (random weights, no download)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error

import ncdl
from ncdl import architectures

transformers = pytest.importorskip("transformers")

SIZES = [(1, 4), (3, 9)]  # (batch, seq): two sizes of each free axis


def _reference() -> torch.nn.Module:
    """BertModel at bert.ncd's Bert sizes, weights larger than its init so that mistakes show."""
    config = transformers.BertConfig(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        type_vocab_size=2,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    ref = transformers.BertModel(config).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(1 + 0.3 * torch.randn_like(p) if "LayerNorm.weight" in name else 0.2 * torch.randn_like(p))
    return ref


def _inputs(batch: int, seq: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, token types (a second segment from the middle) and a padding mask (the last rows shorter)."""
    gen = torch.Generator().manual_seed(batch * 100 + seq)
    ids = torch.randint(0, 1000, (batch, seq), generator=gen)
    types = (torch.arange(seq) >= seq // 2).long().expand(batch, seq).clone()
    lengths = torch.tensor([seq - 2 * i for i in range(batch)]).clamp(min=2)
    keep = torch.arange(seq)[None, :] < lengths[:, None]
    return ids, types, keep


def _outputs(ref: torch.nn.Module, ids: torch.Tensor, types: torch.Tensor, keep: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        out = ref(input_ids=ids, token_type_ids=types, attention_mask=keep.long())
    return [out.last_hidden_state.numpy(), out.pooler_output.numpy()]


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("bert").to_torch("Bert")
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())
    assert set(gm.state_dict()) == set(ref.state_dict())


@pytest.mark.parametrize(("batch", "seq"), SIZES)
def test_torch_and_onnxruntime_match_bert(batch: int, seq: int) -> None:
    ref, program = _reference(), architectures.load("bert")
    gm = program.to_torch("Bert").eval()
    gm.load_state_dict(ref.state_dict(), strict=True)
    ids, types, keep = _inputs(batch, seq)
    want = _outputs(ref, ids, types, keep)
    with torch.no_grad():
        got = [t.numpy() for t in gm(ids, types, keep)]
    model = program.to_onnx("Bert", state_dict=gm.state_dict())
    feeds = {"input_ids": ids.numpy(), "token_type_ids": types.numpy(), "attention_mask": keep.numpy()}
    onnx_got = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    for g, o, w in zip(got, onnx_got, want, strict=True):
        assert g.shape == w.shape
        assert relative_error(g, w) < 1e-5
        assert relative_error(o, w) < 1e-5


def test_negative_control_an_ignored_padding_mask_does_not_match() -> None:
    source = architectures.path("bert").read_text()
    assert "s = mask[key](contract[head](q, k) / sqrt(head), keep)" in source
    program = ncdl.loads(
        source.replace(
            "s = mask[key](contract[head](q, k) / sqrt(head), keep)", "s = contract[head](q, k) / sqrt(head)"
        )
    )
    ref, gm = _reference(), program.to_torch("Bert")
    gm.load_state_dict(ref.state_dict(), strict=True)
    ids, types, keep = _inputs(3, 9)
    with torch.no_grad():
        got = gm(ids, types, keep)[0].numpy()
    assert relative_error(got, _outputs(ref, ids, types, keep)[0]) > 1e-2

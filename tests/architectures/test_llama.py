"""architectures/llama.ncd against transformers' LlamaForCausalLM (random weights, no download)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from arch_inputs import relative_error

import ncdl
from ncdl import architectures
from ncdl.cli import main
from ncdl.compiler.passes.attention import fuse_attention

transformers = pytest.importorskip("transformers")

SIZES = [(1, 3), (2, 11)]  # (batch, seq): two sizes of each free axis


def _reference(theta: float = 10000.0, eps: float = 1e-6) -> torch.nn.Module:
    """LlamaForCausalLM at llama.ncd's Llama sizes, weights larger than its init so that mistakes show."""
    config = transformers.LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=eps,
        rope_parameters={"rope_type": "default", "rope_theta": theta},
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            # norms around 1 with spread; projections well above the 0.02 init
            p.copy_(1 + 0.3 * torch.randn_like(p) if "norm" in name else 0.15 * torch.randn_like(p))
    return ref


def _tokens(batch: int, seq: int) -> torch.Tensor:
    return torch.randint(0, 256, (batch, seq), generator=torch.Generator().manual_seed(batch * 100 + seq))


def _logits(ref: torch.nn.Module, tokens: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return ref(input_ids=tokens, use_cache=False).logits.numpy()


def test_state_dict_loads_strictly_with_equal_parameter_counts() -> None:
    ref, gm = _reference(), architectures.load("llama").to_torch("Llama")
    gm.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters())
    assert set(gm.state_dict()) == set(ref.state_dict())


@pytest.mark.parametrize(("batch", "seq"), SIZES)
def test_torch_and_onnxruntime_match_llama(batch: int, seq: int) -> None:
    ref, program = _reference(), architectures.load("llama")
    gm = program.to_torch("Llama").eval()
    gm.load_state_dict(ref.state_dict(), strict=True)
    tokens = _tokens(batch, seq)
    want = _logits(ref, tokens)
    with torch.no_grad():
        got = gm(tokens).numpy()
    assert relative_error(got, want) < 1e-5
    model = program.to_onnx("Llama", state_dict=gm.state_dict())
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"tokens": tokens.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


def test_float_parameters_set_from_python_reach_torch_and_onnx() -> None:
    # Llama 3's rotary base and norm epsilon, given as Python floats (they are `float` parameters of the model)
    ref, program = _reference(theta=500000.0, eps=1e-5), architectures.load("llama")
    gm = program.to_torch("Llama", theta=500000.0, eps=1e-5).eval()
    gm.load_state_dict(ref.state_dict(), strict=True)
    tokens = _tokens(2, 11)
    want = _logits(ref, tokens)
    with torch.no_grad():
        assert relative_error(gm(tokens).numpy(), want) < 1e-5
        default = program.to_torch("Llama").eval()
        default.load_state_dict(ref.state_dict(), strict=True)
        assert relative_error(default(tokens).numpy(), want) > 1e-4  # the values matter
    model = program.to_onnx("Llama", state_dict=gm.state_dict(), theta=500000.0, eps=1e-5)
    (onnx_got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"tokens": tokens.numpy()})
    assert relative_error(onnx_got, want) < 1e-5


def test_attention_is_fused() -> None:
    marked = fuse_attention(architectures.load("llama").graph("Llama"))
    fused = [d["fused"] for _, d in marked.nodes(data=True) if d.get("fused")]
    assert len(fused) == 2  # one per layer, grouped-query
    assert all(f["group"] == "group" for f in fused)


def test_negative_control_a_wrong_rotary_sign_does_not_match() -> None:
    source = architectures.path("llama").read_text()
    signed = "concat[half, half -> head](-sin(angle), sin(angle))"
    assert signed in source
    program = ncdl.loads(source.replace(signed, "concat[half, half -> head](sin(angle), -sin(angle))"))
    ref, gm = _reference(), program.to_torch("Llama")
    gm.load_state_dict(ref.state_dict(), strict=True)
    tokens = _tokens(2, 11)
    with torch.no_grad():
        assert relative_error(gm(tokens).numpy(), _logits(ref, tokens)) > 1e-2


def test_llama_3_8b_has_its_published_parameter_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(architectures.path("llama")), "--model", "Llama3_8B"]) == 0
    assert "total: 8,030,261,248 parameters in 291 tensors" in capsys.readouterr().out


OFFSET_PROGRAM = """
use "llama.ncd"
axis vocab = 256, model = 64, heads = 4, kv = 2, ffn = 128, head = 16
model LlamaFrom(tokens: int[batch, seq] of vocab, start: int[batch] of seq) -> [batch, seq, vocab] {
    x = LlamaModel[seq, vocab, model, heads, kv, ffn, layers = 2, theta = 10000, eps = 1e-6](tokens, positions[seq](start)) as model
    return linear[model -> vocab](x, bias=false) as lm_head
}
model RotatedFrom(x: [batch, seq, head], start: int[batch] of seq) -> [batch, seq, head] {
    cos, sin = RotaryTable[seq, head, theta = 10000](positions[seq](start))
    return Rotate(x, cos, sin)
}
"""


def test_the_rotary_table_starts_at_an_offset_given_at_run_time() -> None:
    from transformers.models.llama import modeling_llama

    program = ncdl.loads(OFFSET_PROGRAM, "llama_from.ncd")
    gm = program.to_torch("RotatedFrom")
    x, start = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(3)) * 2, torch.tensor([3, 1000])
    rotary = modeling_llama.LlamaRotaryEmbedding(_reference().config)
    cos, sin = rotary(x, start[:, None] + torch.arange(5))
    want, _ = modeling_llama.apply_rotary_pos_emb(x[:, None], x[:, None], cos, sin)
    with torch.no_grad():
        assert relative_error(gm(x, start).numpy(), want[:, 0].numpy()) < 1e-5
        assert relative_error(gm(x, torch.tensor([0, 0])).numpy(), want[:, 0].numpy()) > 1e-2
    (onnx_got,) = ort.InferenceSession(program.to_onnx("RotatedFrom").SerializeToString()).run(
        None, {"x": x.numpy(), "start": start.numpy()}
    )
    assert relative_error(onnx_got, want[:, 0].numpy()) < 1e-5


def test_the_model_runs_from_an_offset() -> None:
    program = ncdl.loads(OFFSET_PROGRAM, "llama_from.ncd")
    ref, gm = _reference(), program.to_torch("LlamaFrom")
    gm.load_state_dict(ref.state_dict(), strict=True)
    tokens, start = _tokens(2, 5), torch.tensor([0, 37])
    with torch.no_grad():
        want = ref(input_ids=tokens, position_ids=start[:, None] + torch.arange(5), use_cache=False).logits.numpy()
        assert relative_error(gm(tokens, start).numpy(), want) < 1e-5

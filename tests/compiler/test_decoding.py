"""Incremental decoding: the prefill and step graphs derived from the IR, in torch and onnxruntime.

Greedy decoding of the bundled GPT gives the same tokens through full recompute, the torch step
module with its preallocated cache and the ONNX step graph in onnxruntime, with the logits at every
step within 1e-4 relative; a model that cannot be decoded gets a located diagnostic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import ncdl
import ncdl.architectures
from ncdl.compiler.fx import lower_fx
from ncdl.compiler.fx import runtime as fx_runtime
from ncdl.ir import verify
from ncdl.runtime.generate import OrtDecoder, Sampling, TorchDecoder, generate

LIBRARY = str(Path(ncdl.architectures.__file__).parent)


def _weights(module: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights with a spread wide enough that greedy decoding does not settle on one token."""
    gen = torch.Generator().manual_seed(seed)
    drawn: dict[int, torch.Tensor] = {}  # tied weights (one storage under two names) get one draw
    out = {}
    for k, v in module.state_dict().items():
        if v.data_ptr() not in drawn:
            drawn[v.data_ptr()] = torch.randn(v.shape, generator=gen) * (0.3 if v.dim() > 1 else 0.1) + (v.dim() == 1)
        out[k] = drawn[v.data_ptr()]
    return out


def _greedy_logits(feed, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    """Greedy tokens and the logits each was chosen from; ``feed(all_tokens, new_tokens)`` gives last logits."""
    tokens, logits, seen = list(prompt), [], list(prompt)
    new = list(prompt)
    for _ in range(steps):
        row = feed(seen, new)
        logits.append(row)
        token = int(np.argmax(row))
        tokens.append(token)
        seen.append(token)
        new = [token]
    return tokens[len(prompt) :], logits


def _three_ways(program: ncdl.Program, model: str, prompt: list[int], steps: int) -> None:
    g = program.graph(model)
    full = lower_fx(g, "flat").eval()
    state = _weights(full)
    full.load_state_dict(state)

    def recompute(seen: list[int], new: list[int]) -> np.ndarray:
        with torch.no_grad():
            return full(torch.tensor([seen]))[0, -1].numpy()

    step, layout = program.to_torch_step(model, state)
    torch_cache, ort_cache = TorchDecoder(step, layout), OrtDecoder(program.to_onnx_step(model, state))
    ref_tokens, ref_logits = _greedy_logits(recompute, prompt, steps)
    assert len(set(ref_tokens)) >= 3  # the check means something only if the tokens vary
    for decoder in (torch_cache, ort_cache):
        decoder.reset()
        tokens, logits = _greedy_logits(lambda seen, new, d=decoder: d.feed(new), prompt, steps)
        assert tokens == ref_tokens
        for got, want in zip(logits, ref_logits, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        assert list(generate(decoder, prompt, steps)) == ref_tokens


def test_gpt_greedy_64_tokens_agree_full_torch_cache_and_onnxruntime_cache() -> None:
    _three_ways(ncdl.architectures.load("gpt"), "GPT", [3, 14, 15, 9, 26, 5, 35, 8], 64)


def test_llama_greedy_64_tokens_agree_full_torch_cache_and_onnxruntime_cache() -> None:
    # rotary positions from `positions[seq]()` start at the offset; grouped-query attention caches kv heads only
    program = ncdl.architectures.load("llama")
    assert program.decoding("Llama").layers[0]["key"] == ["batch", "kv", "past_seq", "head"]
    _three_ways(program, "Llama", [3, 14, 15, 9, 26, 5, 35, 8], 64)


def test_the_torch_cache_grows_past_its_capacity() -> None:
    program = ncdl.architectures.load("llama")
    state = _weights(lower_fx(program.graph("Llama"), "flat"))
    step, layout = program.to_torch_step("Llama", state)
    small, large = TorchDecoder(step, layout, capacity=4), TorchDecoder(step, layout, capacity=64)
    assert list(generate(small, [1, 2, 3], 20)) == list(generate(large, [1, 2, 3], 20))


def test_prefill_graph_returns_the_keys_and_values_of_every_attention() -> None:
    d = ncdl.architectures.load("gpt").decoding("GPT")
    verify(d.prefill)
    verify(d.step)
    outs = [d.prefill.nodes[n]["attrs"]["name"] for n in d.prefill.graph["outputs"]]
    assert outs == ["output"] + [f"present.{i}.{w}" for i in range(4) for w in ("key", "value")]
    assert d.prefill.nodes[d.prefill.graph["outputs"][1]]["axes"] == ["batch", "heads", "key", "head"]
    full = lower_fx(ncdl.architectures.load("gpt").graph("GPT"), "flat").eval()
    prefill = lower_fx(d.prefill, "flat").eval()
    prefill.load_state_dict(full.state_dict())
    tokens = torch.randint(0, 65, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, key0, *_ = prefill(tokens)
        torch.testing.assert_close(logits, full(tokens))
    assert key0.shape == (2, 4, 10, 32)


def test_step_graph_names_and_dims_follow_the_ecosystem_and_pass_the_full_checker() -> None:
    for opset in (23, 17):
        model = ncdl.architectures.load("gpt").to_onnx_step("GPT", opset=opset)
        onnx.checker.check_model(model, full_check=True)

        def dims(vi: onnx.ValueInfoProto) -> list[int | str]:
            return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

        ins = {vi.name: dims(vi) for vi in model.graph.input}
        outs = {vi.name: dims(vi) for vi in model.graph.output}
        assert list(ins)[:4] == ["tokens", "offset", "past_key_values.0.key", "past_key_values.0.value"]
        assert ins["past_key_values.3.value"] == ["batch", 4, "past_seq", 32]
        assert ins["offset"] == []
        assert list(outs)[:3] == ["output", "present.0.key", "present.0.value"]
        assert outs["present.3.key"] == ["batch", 4, "past_seq + seq", 32]
        ops = {n.op_type for n in model.graph.node}
        assert ("Attention" in ops) == (opset == 23)
        if opset == 23:  # the cache goes through Attention's own past inputs and present outputs
            attention = [n for n in model.graph.node if n.op_type == "Attention"]
            assert len(attention) == 4 and all(len(n.input) == 6 and len(n.output) == 3 for n in attention)
            assert attention[0].input[4:] == ["past_key_values.0.key", "past_key_values.0.value"]
            assert "Concat" not in {n.op_type for n in model.graph.node if "past_key_values" in "".join(n.input)}


def test_the_step_graph_below_opset_23_decomposes_attention_and_agrees() -> None:
    program = ncdl.architectures.load("gpt")
    state = _weights(lower_fx(program.graph("GPT"), "flat"))
    native, decomposed = (OrtDecoder(program.to_onnx_step("GPT", state, opset=o)) for o in (23, 17))
    for decoder in (native, decomposed):
        decoder.reset()
    for tokens in ([5, 6, 7, 8, 9], [10], [11, 12]):  # a prompt, one token, two tokens at once
        np.testing.assert_allclose(decomposed.feed(tokens), native.feed(tokens), rtol=1e-4, atol=1e-4)


def test_torch_cache_is_appended_in_place_into_the_preallocated_buffer() -> None:
    buf = torch.zeros(1, 2, 8, 3)
    past = buf.narrow(2, 0, 3)
    new = torch.ones(1, 2, 2, 3)
    out = fx_runtime.cache_append(past, new, 2)
    assert out.data_ptr() == buf.data_ptr() and out.shape == (1, 2, 5, 3)
    assert buf[:, :, 3:5].eq(1).all() and buf[:, :, 5:].eq(0).all()
    full = fx_runtime.cache_append(buf.narrow(2, 0, 7), new, 2)  # no room left: concatenated
    assert full.data_ptr() != buf.data_ptr() and full.shape == (1, 2, 9, 3)
    torch.testing.assert_close(fx_runtime.cache_append(torch.zeros(1, 2, 3, 3), new, 2)[:, :, 3:], new)


def test_causal_is_aligned_bottom_right_when_there_are_more_keys_than_queries() -> None:
    program = ncdl.loads("axis q, k, d = 4\nmodel M(s: [q, k]) -> [q, k] { return softmax[k](causal[q, k](s)) }\n")
    s = torch.zeros(2, 5)
    with torch.no_grad():
        p = program.to_torch()(s)
    # the last query sees all 5 keys, the first one keys 0..3
    expected = torch.tensor([[0.25] * 4 + [0.0], [0.2] * 5])
    torch.testing.assert_close(p, expected)
    from ncdl.runtime import Session

    got = Session(program.to_onnx()).run({"s": s.numpy()})["output"]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6)


def test_fused_causal_attention_with_more_keys_than_queries_agrees_in_torch_and_onnxruntime() -> None:
    program = ncdl.loads(
        "axis q, k, d = 4\n"
        "model M(a: [q, d], b: [k, d], c: [k, d]) -> [q, d] {\n"
        "    return contract[k](softmax[k](causal[q, k](contract[d](a, b) / 2.0)), c)\n"
        "}\n"
    )
    gen = torch.Generator().manual_seed(0)
    a, b, c = torch.randn(3, 4, generator=gen), torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    scores = (a @ b.T / 2.0).masked_fill(torch.ones(3, 6, dtype=torch.bool).triu(1 + 6 - 3), float("-inf"))
    want = scores.softmax(-1) @ c
    with torch.no_grad():
        torch.testing.assert_close(program.to_torch()(a, b, c), want)
    from ncdl.runtime import Session

    for opset in (23, 17):
        got = Session(program.to_onnx(opset=opset)).run({"a": a.numpy(), "b": b.numpy(), "c": c.numpy()})
        np.testing.assert_allclose(got["output"], want.numpy(), rtol=1e-5, atol=1e-6)


def _write(tmp_path: Path, name: str, body: str) -> ncdl.Program:
    path = tmp_path / name
    path.write_text(
        'use "transformer.ncd"\naxis batch\naxis seq <= 64\naxis vocab = 11, model = 16, heads = 2\n\n' + body
    )
    return ncdl.load(path, allow_paths=(LIBRARY,))


def test_bidirectional_attention_cannot_be_decoded(tmp_path: Path) -> None:
    program = _write(
        tmp_path,
        "bidi.ncd",
        "model Bidi(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {\n"
        "    x = embed[vocab -> model](tokens)\n"
        "    return linear[model -> vocab](x + SelfAttention(x))\n"
        "}\n",
    )
    with pytest.raises(ncdl.NcdlError) as err:
        program.decoding()
    assert str(err.value) == (
        "<ncdl>/attention.ncd:13:12: error[E231]: attention `self_attention.attention` is bidirectional: "
        "every position sees later ones\n"
        " 13 |     return contract[key](softmax[key](s), v)\n"
        "    |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  help: a model decodes a token at a time only when each attention masks the future with "
        "`causal[query, key]` before its softmax"
    )


def test_a_box_mixing_positions_outside_causal_attention_is_named(tmp_path: Path) -> None:
    program = _write(
        tmp_path,
        "mix.ncd",
        "model Mix(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {\n"
        "    x = embed[vocab -> model](tokens)\n"
        "    x = x + CausalSelfAttention(cumsum[seq](x))\n"
        "    return linear[model -> vocab](x)\n"
        "}\n",
    )
    with pytest.raises(ncdl.NcdlError) as err:
        program.to_onnx_step()
    path = tmp_path / "mix.ncd"
    assert str(err.value) == (
        f"{path}:8:33: error[E232]: `cumsum` mixes positions along `seq`, so the model cannot be decoded a "
        "token at a time\n"
        " 8 |     x = x + CausalSelfAttention(cumsum[seq](x))\n"
        "   |                                 ^^^^^^^^^^^^^^\n"
        "  help: a decoded model may mix positions only through causal attention"
    )


def test_a_model_without_attention_has_nothing_to_cache(tmp_path: Path) -> None:
    program = _write(
        tmp_path,
        "bag.ncd",
        "model Bag(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {\n"
        "    return embed[vocab -> model](tokens) -> gelu -> linear[model -> vocab]\n"
        "}\n",
    )
    with pytest.raises(ncdl.NcdlError) as err:
        program.to_torch_step()
    path = tmp_path / "bag.ncd"
    assert str(err.value) == (
        f"{path}:6:48: error[E230]: model `Bag` has no attention, so it has no keys and values to cache\n"
        " 6 | model Bag(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {\n"
        "   |                                                ^^^^^^^^^^^^^^^^^^^\n"
        "  help: incremental decoding derives its cache from causal attention (`causal[query, key]` before the "
        "softmax)"
    )


def test_sampling_is_seeded_and_top_k_1_is_greedy() -> None:
    program = ncdl.architectures.load("gpt")
    full = lower_fx(program.graph("GPT"), "flat")
    state = _weights(full)
    decoder = OrtDecoder(program.to_onnx_step("GPT", state))
    prompt = [1, 2, 3]
    greedy = list(generate(decoder, prompt, 12))
    assert list(generate(decoder, prompt, 12, Sampling(temperature=1.5, top_k=1, seed=3))) == greedy
    hot = Sampling(temperature=2.0, top_p=0.95, seed=7)
    first = list(generate(decoder, prompt, 12, hot))
    assert list(generate(decoder, prompt, 12, hot)) == first
    assert first != greedy
    with pytest.raises(ValueError, match="exceed the model's 64 positions|exceed the model's 128 positions"):
        list(generate(decoder, prompt, 200))
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        Sampling(top_p=0.0)

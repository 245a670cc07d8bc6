"""Incremental decoding: ncdl's ONNX step graph in onnxruntime against transformers' generate().

BENCHMARKS.md section "8. Incremental decoding"; run alone (``.venv/bin/python
benchmarks/decode_bench.py [--quick]``, prints the section) or from ``run.py``.
Not a test: timings are noisy.

* tokens/s: batch 1, a 32-token prompt, 256 new tokens, greedy, one thread
  for both, on the same weights: a 6-layer 384-wide GPT (GPT-2's layout and
  vocabulary, transformers' ``GPT2LMHeadModel``) and a Llama of the same
  width and depth (``LlamaForCausalLM``, 6 query and 2 key/value heads);
  transformers runs eager with its cache on. The two take turns, three runs
  each; the generated tokens are compared too.
* latency growth: the median time of the steps producing tokens 12-20 against
  tokens 248-256 of the same ncdl run.
* int8: the step graph quantised by onnxruntime's dynamic quantisation
  against float32, tokens/s on both models above and on the character-level
  GPT trained here for a few hundred steps, where the greedy choices are
  compared at 256 held-out positions (teacher-forced, so one difference does
  not carry over) and along one free-running 256-token generation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ncdl
from ncdl import architectures
from ncdl.runtime.convert import quantize_int8
from ncdl.runtime.generate import OrtDecoder, generate

PROMPT, NEW = 32, 256


def _gpt(quick: bool) -> tuple[Any, dict[str, torch.Tensor], ncdl.Program, str]:
    """transformers' GPT2LMHeadModel (6 x 384) and the same weights in ncdl's module."""
    import transformers

    layers, width, heads = (2, 128, 4) if quick else (6, 384, 6)
    config = transformers.GPT2Config(
        n_embd=width, n_layer=layers, n_head=heads, n_positions=1024, attn_implementation="eager"
    )
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(config).eval()
    program = _derived("gpt", f"GPT2Small[model = {width}, heads = {heads}, layers = {layers}]")
    module = program.to_torch("Bench", hierarchy="flat")
    # gpt.ncd has GPT-2's names; transformers' Conv1D stores its weights [in, out], nn.Linear's transposed
    sd, conv1d = ref.state_dict(), ("c_attn.weight", "c_proj.weight", "c_fc.weight")
    mine = {name: sd[name].T if name.endswith(conv1d) else sd[name] for name in module.state_dict()}
    module.load_state_dict(mine)  # flat torch.nn shapes are accepted; state_dict() gives ncdl's
    return ref, module.state_dict(), program, f"GPT {layers} x {width} (vocab {config.vocab_size})"


def _llama(quick: bool) -> tuple[Any, dict[str, torch.Tensor], ncdl.Program, str]:
    """transformers' LlamaForCausalLM (6 x 384, 6 heads sharing 2 key/value heads) and ncdl's llama.ncd."""
    import transformers

    layers, width, heads, kv, ffn, vocab = (2, 128, 4, 2, 256, 1000) if quick else (6, 384, 6, 2, 1024, 32000)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=width, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, tie_word_embeddings=False,
        attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(config).eval()
    program = _derived(
        "llama", f"Llama[vocab = {vocab}, model = {width}, heads = {heads}, kv = {kv}, ffn = {ffn}, layers = {layers}]"
    )
    return ref, ref.state_dict(), program, f"Llama {layers} x {width} (GQA {heads}/{kv}, vocab {vocab})"


def _derived(file: str, model: str) -> ncdl.Program:
    """A program declaring ``model Bench = <model>`` over a bundled file."""
    library = Path(architectures.__file__).parent
    return ncdl.loads(f'use "{file}.ncd"\nmodel Bench = {model}\n', str(library / "bench.ncd"))


def _hf_generate(ref: Any, prompt: list[int]) -> list[int]:
    with torch.inference_mode():
        out = ref.generate(
            torch.tensor([prompt]), max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, use_cache=True,
            pad_token_id=0, attention_mask=torch.ones(1, len(prompt), dtype=torch.int64),
        )  # fmt: skip
    return out[0, len(prompt) :].tolist()


def _timed_steps(decoder: OrtDecoder, prompt: list[int]) -> tuple[list[int], list[float]]:
    """Greedy tokens and the time of each call (the prompt's first, then one per new token)."""
    decoder.reset()
    times, tokens = [], []
    start = time.perf_counter()
    logits = decoder.feed(prompt)
    times.append(time.perf_counter() - start)
    for _ in range(NEW):
        tokens.append(int(np.argmax(logits)))
        if len(tokens) == NEW:
            break
        start = time.perf_counter()
        logits = decoder.feed([tokens[-1]])
        times.append(time.perf_counter() - start)
    return tokens, times


def _rate(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return NEW / (time.perf_counter() - start), out


def _model_rows(build: Callable[[bool], tuple], quick: bool, repeats: int) -> tuple[list[Any], list[Any]]:
    ref, state, program, name = build(quick)
    model = "Bench"
    f32 = OrtDecoder(program.to_onnx_step(model, state), threads=1)
    int8 = OrtDecoder(quantize_int8(program.to_onnx_step(model, state)), threads=1)
    prompt = torch.randint(0, 1000, (PROMPT,), generator=torch.Generator().manual_seed(1)).tolist()
    rates: dict[str, list[float]] = {"hf": [], "ours": [], "int8": []}
    growth: list[float] = []
    hf_tokens = ours_tokens = int8_tokens = None
    _hf_generate(ref, prompt[:4])  # warm-up
    list(generate(f32, prompt, 4))
    list(generate(int8, prompt, 4))
    for _ in range(repeats):  # in turns, so that load from other jobs falls on all alike
        rate, hf_tokens = _rate(lambda: _hf_generate(ref, prompt))
        rates["hf"].append(rate)
        start = time.perf_counter()
        ours_tokens, times = _timed_steps(f32, prompt)
        rates["ours"].append(NEW / (time.perf_counter() - start))
        growth.append(statistics.median(times[248:256]) / statistics.median(times[12:20]))
        rate, int8_tokens = _rate(lambda: list(generate(int8, prompt, NEW)))
        rates["int8"].append(rate)
    hf, ours, q = (statistics.median(rates[k]) for k in ("hf", "ours", "int8"))
    same = sum(a == b for a, b in zip(hf_tokens, ours_tokens, strict=True))
    g = statistics.median(growth)
    speed = [name, f"{hf:.1f}", f"{ours:.1f}", f"{ours / hf:.2f}", "ok" if ours / hf >= 1.5 else "MISS",
             f"{same}/{NEW}", f"{g:.2f}", "ok" if g <= 1.5 else "MISS"]  # fmt: skip
    int8_same = sum(a == b for a, b in zip(ours_tokens, int8_tokens, strict=True))
    quant = [
        name,
        f"{ours:.1f}",
        f"{q:.1f}",
        f"{q / ours:.2f}",
        "ok" if q / ours >= 1.3 else "MISS",
        f"{int8_same}/{NEW}",
    ]
    return speed, quant


def _char_gpt(quick: bool, repeats: int) -> tuple[list[Any], str]:
    """The bundled character-level GPT, trained briefly: float32 vs int8 step graphs."""
    from ncdl.demo import data
    from ncdl.demo.charlm import TrainConfig, Vocabulary, split, train

    steps = 40 if quick else 400
    program = architectures.load("gpt")
    torch.manual_seed(0)
    module = program.to_torch("GPT", hierarchy="flat")
    text = data.text()
    vocab = Vocabulary.of(text)
    train_ids, held = split(vocab.tensor(text))
    losses = train(module, train_ids, TrainConfig(steps=steps, batch=32, seq=64), progress=False)
    module.eval()
    f32 = OrtDecoder(program.to_onnx_step("GPT", module.state_dict()), threads=1)
    int8 = OrtDecoder(quantize_int8(program.to_onnx_step("GPT", module.state_dict())), threads=1)
    # teacher-forced: the greedy choice at each of 256 held-out positions (two windows of 128)
    agree = 0
    for w in range(2):
        window = held[w * 128 : (w + 1) * 128].tolist()
        picks = []
        for d in (f32, int8):
            d.reset()
            out = d.session.run(None, {**d._past, "tokens": np.asarray([window]), "offset": np.asarray(0)})[0]
            picks.append(out[0].argmax(-1))
        agree += int((picks[0] == picks[1]).sum())
    prompt = held[:PROMPT].tolist()
    free = [list(generate(d, prompt, NEW, context=128)) for d in (f32, int8)]
    first = next((i for i, (a, b) in enumerate(zip(*free, strict=True)) if a != b), NEW)
    rates = {"f32": [], "int8": []}
    for _ in range(repeats):
        for key, d in (("f32", f32), ("int8", int8)):
            start = time.perf_counter()
            list(generate(d, prompt, NEW, context=128))
            rates[key].append(NEW / (time.perf_counter() - start))
    a, b = statistics.median(rates["f32"]), statistics.median(rates["int8"])
    row = ["char-GPT 4 x 128 (trained)", f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}", "ok" if b / a >= 1.3 else "MISS",
           f"{agree}/256 teacher-forced ({'ok' if agree >= 0.95 * 256 else 'MISS'}); free-running equal up to "
           f"token {first}"]  # fmt: skip
    return row, f"trained {steps} steps (batch 32 x 64), last loss {losses[-1]:.2f}"


def decoding(quick: bool = False) -> list[str]:
    """The section's lines."""
    torch.set_num_threads(1)
    repeats = 1 if quick else 3
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    speed_rows, quant_rows = [], []
    for build in (_gpt, _llama):
        print(f"decoding: {build.__name__} ...", file=sys.stderr)
        s, q = _model_rows(build, quick, repeats)
        speed_rows.append(s)
        quant_rows.append(q)
    print("decoding: char-GPT ...", file=sys.stderr)
    char_row, trained = _char_gpt(quick, repeats)
    quant_rows.append(char_row[:5] + [char_row[5]])
    out = [
        "## 8. Incremental decoding",
        "",
        f"`benchmarks/decode_bench.py`, one thread for torch and onnxruntime, load average {load}. Batch 1, a "
        f"{PROMPT}-token prompt, {NEW} new tokens, greedy, median of {repeats} runs taken in turns. ncdl: the ONNX "
        "step graph (`ncdl export --decoding`) through `ncdl.runtime.generate.OrtDecoder`; transformers "
        "5.24: `generate()` eager, cache on, on the same weights. Targets: ncdl / transformers >= 1.5; "
        "latency of the steps giving tokens 248-256 over those giving tokens 12-20 <= 1.5.",
        "",
        "| model | transformers (tok/s) | ncdl ORT (tok/s) | ncdl / transformers | target | same greedy tokens | "
        "latency 256 / 16 | target |",
        "|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in speed_rows),
        "",
        f"int8: the step graph through onnxruntime's dynamic quantisation (MatMul/Gemm weights int8) against float32. "
        f"Target: >= 1.3x the tokens/s, and on the trained char-GPT ({trained}) the same greedy token at >= 95% "
        "of 256 positions.",
        "",
        "| model | float32 (tok/s) | int8 (tok/s) | int8 / float32 | target | greedy tokens equal |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in quant_rows),
    ]
    return out


def main() -> None:
    """Print the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models, one run")
    print("\n".join(decoding(parser.parse_args().quick)))


if __name__ == "__main__":
    main()

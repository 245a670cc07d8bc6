"""Llama and BERT against their transformers implementations: a training step, and onnxruntime latency.

Run alone: ``nice .venv/bin/python benchmarks/hf_bench.py [--quick]`` prints the BENCHMARKS.md section
"9. Llama and BERT vs transformers"; ``benchmarks/run.py`` includes it. Not a test: timings are noisy.

* Training step: the bundled ``llama.ncd`` / ``bert.ncd`` model at a mid-size configuration and
  transformers' ``LlamaForCausalLM`` / ``BertModel`` built from the same configuration with
  ``attn_implementation="sdpa"``, the reference's weights loaded into ncdl's module
  (``load_state_dict(strict=True)``). One step: forward, a loss (cross entropy on the logits; the
  squares of BERT's two outputs), backward, AdamW. Each side trains in a fresh process of its own
  (both models are built there, so the weights are the same, and the other one is dropped), and the
  processes take turns for several rounds: within one process the two models' allocations interleave,
  and where glibc's heap happens to put a step's large buffers changes its page faults and the step
  time by about 5% from one process to the next. Ratio = median over the rounds of ncdl / transformers
  (target <= 1.0). BERT's reference has ``attention_probs_dropout_prob=0`` because bert.ncd has no
  dropout on the attention probabilities (its hidden dropouts are the reference's).
* ONNX: ncdl's ``to_onnx`` (opset 23, fused ``Attention``) against ``torch.onnx.export(..., dynamo=True)``
  of the reference (eval mode, the same weights), both run by onnxruntime on one thread with the same
  inputs; ratio = ncdl / torch's export (target <= 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import transformers

from ncdl import architectures

LLAMA = {"vocab": 2048, "model": 256, "heads": 8, "kv": 2, "ffn": 704, "layers": 4}
BERT = {"vocab": 2048, "model": 256, "heads": 4, "ffn": 1024, "layers": 4}


def _llama_reference() -> torch.nn.Module:
    config = transformers.LlamaConfig(
        vocab_size=LLAMA["vocab"],
        hidden_size=LLAMA["model"],
        intermediate_size=LLAMA["ffn"],
        num_hidden_layers=LLAMA["layers"],
        num_attention_heads=LLAMA["heads"],
        num_key_value_heads=LLAMA["kv"],
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        use_cache=False,
        attn_implementation="sdpa",
    )
    return transformers.LlamaForCausalLM(config)


def _bert_reference() -> torch.nn.Module:
    config = transformers.BertConfig(
        vocab_size=BERT["vocab"],
        hidden_size=BERT["model"],
        num_hidden_layers=BERT["layers"],
        num_attention_heads=BERT["heads"],
        intermediate_size=BERT["ffn"],
        attention_probs_dropout_prob=0.0,
        attn_implementation="sdpa",
    )
    return transformers.BertModel(config)


MODULES: dict[str, dict[str, Callable[[], torch.nn.Module]]] = {
    "Llama": {"transformers": _llama_reference, "ncdl": lambda: architectures.load("llama").to_torch("Llama", **LLAMA)},
    "BERT": {"transformers": _bert_reference, "ncdl": lambda: architectures.load("bert").to_torch("Bert", **BERT)},
}


def _pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The reference and ncdl's module, holding the reference's weights."""
    ref, gm = MODULES[name]["transformers"](), MODULES[name]["ncdl"]()
    gm.load_state_dict(ref.state_dict(), strict=True)
    return ref, gm


def _bert_inputs(batch: int, seq: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, BERT["vocab"], (batch, seq), generator=torch.Generator().manual_seed(1))
    types = (torch.arange(seq) >= seq // 2).long().expand(batch, seq).contiguous()
    lengths = torch.linspace(seq, seq // 2, batch).long()
    keep = torch.arange(seq)[None, :] < lengths[:, None]
    return ids, types, keep


def _llama_tokens(batch: int, seq: int) -> torch.Tensor:
    return torch.randint(0, LLAMA["vocab"], (batch, seq), generator=torch.Generator().manual_seed(1))


def _llama_step(module: torch.nn.Module, side: str, batch: int, seq: int) -> Callable[[], None]:
    """One training step of ``module`` (ncdl's or the reference): cross entropy of the logits, AdamW."""
    tokens = _llama_tokens(batch, seq)
    targets = torch.randint(0, LLAMA["vocab"], (batch * seq,), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    logits = (lambda: module(tokens)) if side == "ncdl" else (lambda: module(input_ids=tokens, use_cache=False).logits)

    def run() -> None:
        loss = torch.nn.functional.cross_entropy(logits().reshape(-1, LLAMA["vocab"]), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return run


def _bert_step(module: torch.nn.Module, side: str, batch: int, seq: int) -> Callable[[], None]:
    """One training step of ``module``: the squares of both outputs, AdamW."""
    ids, types, keep = _bert_inputs(batch, seq)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def outputs() -> tuple[torch.Tensor, torch.Tensor]:
        if side == "ncdl":
            return module(ids, types, keep)
        out = module(input_ids=ids, token_type_ids=types, attention_mask=keep.long())
        return out.last_hidden_state, out.pooler_output

    def run() -> None:
        hidden, pooled = outputs()
        (hidden.square().mean() + pooled.square().mean()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return run


TRAIN_STEPS = {"Llama": _llama_step, "BERT": _bert_step}


def _turns(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each function, taking turns (one warm-up each first).

    The CPU time of the calling thread is kept too, under ``"<key> cpu"``: with one
    thread it is the work done, which other jobs on a shared machine inflate far
    less than the wall time.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns} | {f"{k} cpu": [] for k in fns}
    keys = list(fns)
    for i in range(repeats):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            start, cpu = time.perf_counter(), time.thread_time()
            fns[key]()
            times[key].append(time.perf_counter() - start)
            times[f"{key} cpu"].append(time.thread_time() - cpu)
    return times


def _ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median of the paired ratios (each turn's ``a`` against the same turn's ``b``)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def _train_child(name: str, side: str, weights: str, batch: int, seq: int, repeats: int) -> dict[str, Any]:
    """One side's training step alone in this process: wall and CPU time per step, page faults per step.

    Only that side's module is built here; it loads the weights the parent saved from the reference.
    """
    module = MODULES[name][side]()
    module.load_state_dict(torch.load(weights), strict=True)
    module.train()
    step = TRAIN_STEPS[name](module, side, batch, seq)
    for _ in range(3):
        step()
    wall, cpu = [], []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        start, thread = time.perf_counter(), time.thread_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - thread)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / repeats
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu), "faults": faults}


def _train_in_process(name: str, side: str, weights: str, batch: int, seq: int, repeats: int) -> dict[str, Any]:
    arguments = [name, side, weights, str(batch), str(seq), str(repeats)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--train-child", *arguments]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _train_row(name: str, batch: int, seq: int, rounds: int, repeats: int) -> str:
    """A table row: each side in its own fresh processes, taking turns for ``rounds`` rounds."""
    runs: dict[str, list[dict[str, Any]]] = {"ncdl": [], "transformers": []}
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, f"{name}.pt")
        torch.save(_pair(name)[0].state_dict(), weights)
        for i in range(rounds):
            for side in ("ncdl", "transformers") if i % 2 == 0 else ("transformers", "ncdl"):
                runs[side].append(_train_in_process(name, side, weights, batch, seq, repeats))
    pairs = list(zip(runs["ncdl"], runs["transformers"], strict=True))
    ratios = [a["wall"] / b["wall"] for a, b in pairs]
    cpu = statistics.median(a["cpu"] / b["cpu"] for a, b in pairs)
    ms = {k: statistics.median(r["wall"] for r in v) * 1e3 for k, v in runs.items()}
    faults = {k: statistics.median(r["faults"] for r in v) for k, v in runs.items()}
    ratio = statistics.median(ratios)
    return (
        f"| {name} | {ms['ncdl']:.1f} | {ms['transformers']:.1f} | {ratio:.3f} {_verdict(ratio)} "
        f"| {cpu:.3f} {_verdict(cpu)} | {min(ratios):.3f}-{max(ratios):.3f} "
        f"| {faults['ncdl']:.0f} / {faults['transformers']:.0f} |"
    )


def _verdict(ratio: float) -> str:
    return "ok" if ratio <= 1.0 else "MISS"


class _LlamaLogits(torch.nn.Module):
    def __init__(self, ref: torch.nn.Module) -> None:
        super().__init__()
        self.ref = ref

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.ref(input_ids=tokens, use_cache=False).logits


class _BertOutputs(torch.nn.Module):
    def __init__(self, ref: torch.nn.Module) -> None:
        super().__init__()
        self.ref = ref

    def forward(self, ids: torch.Tensor, types: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.ref(input_ids=ids, token_type_ids=types, attention_mask=keep)
        return out.last_hidden_state, out.pooler_output


def _session(model_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _torch_export(module: torch.nn.Module, example: tuple) -> tuple[bytes, str]:
    """torch.onnx.export(dynamo=True) of ``module`` at the example's (static) shapes."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), torch.no_grad():
        program = torch.onnx.export(module, example, dynamo=True, verbose=False)
    return program.model_proto.SerializeToString(), ""


def _onnx_row(
    name: str,
    program: Any,
    model: str,
    params: dict[str, int],
    ref: torch.nn.Module,
    wrapper: torch.nn.Module,
    example: tuple,
    feeds: dict[str, np.ndarray],
    repeats: int,
) -> list[Any]:
    ref.eval()
    gm = program.to_torch(model, **params)
    gm.load_state_dict(ref.state_dict(), strict=True)
    ours = _session(program.to_onnx(model, state_dict=gm.state_dict(), **params).SerializeToString())
    try:
        theirs_bytes, note = _torch_export(wrapper.eval(), example)
    except Exception as err:  # noqa: BLE001 - a failed reference export is a row that says so
        return [name, "-", "-", "-", f"torch.onnx.export failed: {type(err).__name__}"]
    theirs = _session(theirs_bytes)
    their_feeds = dict(zip([i.name for i in theirs.get_inputs()], feeds.values(), strict=True))
    got = ours.run(None, feeds)[0]
    want = theirs.run(None, their_feeds)[0]
    agree = float(np.abs(got - want).max() / np.abs(want).max())
    times = _turns({"ncdl": lambda: ours.run(None, feeds), "torch": lambda: theirs.run(None, their_feeds)}, repeats)
    ratio = _ratio(times, "ncdl", "torch")
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return [
        name,
        f"{ms['ncdl']:.2f}",
        f"{ms['torch']:.2f}",
        f"{ratio:.2f} {_verdict(ratio)}",
        f"outputs agree to {agree:.1e}",
    ]


def section(quick: bool = False) -> list[str]:
    """The BENCHMARKS.md section: training-step and onnxruntime-latency tables."""
    torch.manual_seed(0)
    batch, seq = (2, 64) if quick else (4, 128)
    repeats = 5 if quick else 15
    rounds = 2 if quick else 15
    lines = [
        "## 9. Llama and BERT vs transformers",
        "",
        f"`benchmarks/hf_bench.py`: Llama {LLAMA} and BERT {BERT} (bundled `llama.ncd`, `bert.ncd` with these "
        f"parameters) against transformers {transformers.__version__} built from the same configuration "
        f'(`attn_implementation="sdpa"`, the same weights), batch {batch}, {seq} tokens (BERT: padded rows), '
        f"one thread. Target: ratio (ncdl / reference) <= 1.0. Load average at the "
        f"start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores.",
        "",
        f"Training step: each side trains alone in a fresh process (median of {repeats} steps after 3 warm-up "
        f"steps); the two take turns for {rounds} rounds. Ratio: the median over the rounds of ncdl / "
        "transformers, with its range; the CPU-time ratio is the same for the thread's CPU time; "
        "faults are the minor page faults per step (median over the processes).",
        "",
        "| training step (forward, loss, backward, AdamW) | ncdl ms | transformers ms | ratio | CPU-time ratio "
        "| range over rounds | page faults per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in TRAIN_STEPS:
        lines.append(_train_row(name, batch, seq, rounds, repeats))
    lines += [
        "",
        "| onnxruntime latency (eval) | ncdl's ONNX ms | torch.onnx.export ms | ratio | note |",
        "|---|---|---|---|---|",
    ]
    ref, _ = _pair("Llama")
    tokens = _llama_tokens(batch, seq)
    lines.append(
        "| "
        + " | ".join(
            _onnx_row(
                "Llama",
                architectures.load("llama"),
                "Llama",
                LLAMA,
                ref,
                _LlamaLogits(ref),
                (tokens,),
                {"tokens": tokens.numpy()},
                repeats,
            )
        )
        + " |"
    )
    ref, _ = _pair("BERT")
    ids, types, keep = _bert_inputs(batch, seq)
    feeds = {"input_ids": ids.numpy(), "token_type_ids": types.numpy(), "attention_mask": keep.numpy()}
    lines.append(
        "| "
        + " | ".join(
            _onnx_row(
                "BERT",
                architectures.load("bert"),
                "Bert",
                BERT,
                ref,
                _BertOutputs(ref),
                (ids, types, keep),
                feeds,
                repeats,
            )
        )
        + " |"
    )
    return lines


def main() -> None:
    """Print the section (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument(
        "--train-child",
        nargs=6,
        metavar=("MODEL", "SIDE", "WEIGHTS", "BATCH", "SEQ", "REPEATS"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.train_child:
        name, side, weights, batch, seq, repeats = args.train_child
        print(json.dumps(_train_child(name, side, weights, int(batch), int(seq), int(repeats))))
        return
    print("\n".join(section(args.quick)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

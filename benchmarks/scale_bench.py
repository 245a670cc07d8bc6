"""Training-at-scale measurements: flat vs hierarchical step time, checkpointing memory, regional compile.

``python benchmarks/scale_bench.py steps|memory|compile [args]`` prints JSON lines; ``all`` runs every case,
each in its own process, and writes the markdown tables used in BENCHMARKS.md.

* ``steps CASE THREADS``: median train step (zero_grad, forward, cross-entropy, backward, AdamW) of ncdl flat,
  ncdl hierarchical and the hand-written torch model, taking turns step by step.
* ``memory CHECKPOINT``: peak resident-memory rise during one step of a 12-layer, 384-wide GPT at batch 8 x 256,
  with or without ``ncdl.torch_utils.checkpoint(gm, level=1)``, and its median step time (run with
  ``MALLOC_MMAP_THRESHOLD_=65536`` so freed tensors go back to the kernel, as ``train_step.py`` does).
* ``compile MODE``: GPT-2 small configuration at batch 1 x 64: the first (compiling) step and the median step
  after it, compiling the whole module (``whole``) or each block (``regional``), inductor caches off.
* ``qkv CASE THREADS``: the GPT with q, k and v written as three sibling linears, run as one matmul over weights
  joined without a copy (``joined``), copied every step (``copied``) or as three matmuls (``unfused``), against
  the bundled GPT's one linear ``c_attn`` (nanoGPT's form).
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from torch_models import GPT, ncdl_twin, resnet18, resnet_program  # noqa: E402
from train_step import _status  # noqa: E402

import ncdl  # noqa: E402
from ncdl import architectures  # noqa: E402

#: name -> (layers, width, heads, vocab, ctx, batch, seq)
GPTS = {"gpt6x384": (6, 384, 6, 65, 256, 8, 256), "gpt2small": (12, 768, 12, 50257, 1024, 1, 64)}
MEMORY_GPT = (12, 384, 6, 65, 256, 8, 256)


#: A decoder block whose q, k and v are three sibling linears (the ``qkv`` case; the bundled block has one c_attn).
APART = """
circuit ApartAttention[seq, model, heads, key = seq, head = model / heads](x: [seq, model]) -> [seq, model] {
    q = linear[model -> heads head](x)
    k = rename[seq -> key](linear[model -> heads head](x) as k)
    v = rename[seq -> key](linear[model -> heads head](x) as v)
    return linear[heads head -> model](CausalAttention[seq, key, head](q, k, v)) as c_proj
}
circuit ApartBlock[seq, model, heads](x: [seq, model]) -> [seq, model] {
    x = x + ApartAttention(layernorm[model](x) as ln_1) as attn
    return x + GPTMLP(layernorm[model](x) as ln_2) as mlp
}
"""


def gpt_program(layers: int, width: int, heads: int, vocab: int, ctx: int, *, apart: bool = False) -> ncdl.Program:
    """gpt.ncd's GPT with these sizes (with ``apart``, its q, k and v as three linears)."""
    text = (
        'use "transformer.ncd"\naxis batch\n'
        f"axis seq <= {ctx}\n"
        + (APART if apart else "")
        + f"model G[vocab = {vocab}, model = {width}, heads = {heads}](tokens: int[batch, seq] of vocab)"
        " -> [batch, seq, vocab] {\n"
        "    tok_emb = embed[vocab -> model](tokens) as transformer.wte\n"
        "    pos_emb = embed[seq -> model](positions[seq](), init=normal(0.02)) as transformer.wpe\n"
        "    x = tok_emb + pos_emb\n"
        f"    repeat {layers} as transformer.h {{ x = {'ApartBlock' if apart else 'DecoderBlock'}(x) }}\n"
        "    return x -> layernorm[model] as transformer.ln_f -> linear[model -> vocab](bias=false, tie=wte) as lm_head\n"
        "}\n"
    )
    return ncdl.loads(text, str(architectures.path("gpt")))


def build(case: str, impl: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The module (``flat``, ``instances`` or ``torch``) and a batch."""
    torch.manual_seed(0)
    if case == "resnet":
        ref = resnet18()
        x, y = torch.randn(8, 3, 64, 64), torch.randint(0, 1000, (8,))
        if impl == "torch":
            return ref, x, y
        return (
            _with_hierarchy(ncdl_twin(ref, resnet_program(64), "ResNet18"), resnet_program(64), "ResNet18", impl),
            x,
            y,
        )
    layers, width, heads, vocab, ctx, batch, seq = GPTS.get(case, MEMORY_GPT)
    x, y = torch.randint(0, vocab, (batch, seq)), torch.randint(0, vocab, (batch, seq))
    ref = GPT(vocab, ctx, width, heads, layers)
    if impl == "torch":
        return ref, x, y
    apart = impl in ("joined", "copied", "unfused")
    program = gpt_program(layers, width, heads, vocab, ctx, apart=apart)
    source = program.to_torch("G") if apart else ncdl_twin(ref, program, "G")  # apart: not nanoGPT's names
    return _with_hierarchy(source, program, "G", impl), x, y


def _with_hierarchy(module: torch.nn.Module, program: ncdl.Program, model: str, impl: str) -> torch.nn.Module:
    if impl == "unfused":  # q, k and v as three matmuls: no weight concatenation per step
        import ncdl.compiler.fx as fx_backend
        from ncdl.compiler.pipeline import SIBLING_LINEARS

        saved = fx_backend.FX_PASSES
        fx_backend.FX_PASSES = tuple(p for p in saved if p is not SIBLING_LINEARS)
        try:
            out = program.to_torch(model)
        finally:
            fx_backend.FX_PASSES = saved
    elif impl == "copied":  # one matmul, but q, k, v copied into one matrix every step (the old lowering)
        out = copy.deepcopy(program.to_torch(model))  # deepcopy clones each weight: no longer back to back
    else:
        out = program.to_torch(model, hierarchy="instances" if impl in ("joined", "c_attn") else impl)
    out.load_state_dict(module.state_dict())
    return out


def trainer(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, run: torch.nn.Module | None = None):  # noqa: ANN201
    """One training step as a function."""
    module.train()
    run = run if run is not None else module
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = run(x)
        F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
        opt.step()

    return step


def steps(case: str, threads: int, repeats: int = 5, impls: tuple[str, ...] = ("flat", "instances", "torch")) -> dict:
    if threads:
        torch.set_num_threads(threads)
    fns = {impl: trainer(*build(case, impl)) for impl in impls}
    times: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(repeats + 1):
        for impl in order[r % len(order) :] + order[: r % len(order)]:
            t = time.perf_counter()
            fns[impl]()
            if r:
                times[impl].append(time.perf_counter() - t)
    return {
        "case": case,
        "threads": threads or torch.get_num_threads(),
        **{k: statistics.median(v) for k, v in times.items()},
    }


def memory(ckpt: bool, repeats: int = 3) -> dict:
    from ncdl.torch_utils import checkpoint

    module, x, y = build("memory", "instances")
    if ckpt:
        checkpoint(module, level=1)
    step = trainer(module, x, y)
    step()
    peaks, times = [], []
    for _ in range(repeats):
        Path("/proc/self/clear_refs").write_text("5")
        rest = _status("VmRSS")
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
        peaks.append(_status("VmHWM") - rest)
    return {"checkpoint": ckpt, "peak": statistics.median(peaks), "time": statistics.median(times)}


def compile_case(mode: str, repeats: int = 3) -> dict:
    module, x, y = build("gpt2small", "instances")
    if mode == "whole":
        run = torch.compile(module)
    else:
        for block in module.transformer.h:
            block.compile()
        run = module
    step = trainer(module, x, y, run)
    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"mode": mode, "first": first, "step": statistics.median(times)}


def _child(*args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_all() -> None:
    """Every case, each in a fresh process; prints markdown tables."""
    nocache = {"TORCHINDUCTOR_FX_GRAPH_CACHE": "0", "TORCHINDUCTOR_AUTOGRAD_CACHE": "0"}
    print("| model | threads | flat (ms) | hierarchical (ms) | torch (ms) | hier/flat | hier/torch |")
    print("|---|---|---|---|---|---|---|")
    for case in ("gpt6x384", "gpt2small", "resnet"):
        for threads in ("0", "1"):
            r = _child("steps", case, threads)
            print(
                f"| {case} | {r['threads']} | {r['flat'] * 1e3:.0f} | {r['instances'] * 1e3:.0f} | "
                f"{r['torch'] * 1e3:.0f} | {r['instances'] / r['flat']:.3f} | {r['instances'] / r['torch']:.3f} |",
                flush=True,
            )
    mem = {ck: _child("memory", ck, env={"MALLOC_MMAP_THRESHOLD_": "65536"}) for ck in ("0", "1")}
    print("\n| 12 x 384 GPT, batch 8 x 256 | peak rise (MiB) | step (ms) |\n|---|---|---|")
    for ck, r in mem.items():
        print(
            f"| {'checkpoint level 1' if ck == '1' else 'no checkpointing'} | {r['peak'] / 2**20:.0f} | {r['time'] * 1e3:.0f} |"
        )
    print(f"\nfall: {1 - mem['1']['peak'] / mem['0']['peak']:.1%}, time x{mem['1']['time'] / mem['0']['time']:.2f}")
    comp = {m: _child("compile", m, env=nocache) for m in ("whole", "regional")}
    print("\n| GPT-2 small, batch 1 x 64 | first step (s) | step after (ms) |\n|---|---|---|")
    for m, r in comp.items():
        print(f"| {m} | {r['first']:.1f} | {r['step'] * 1e3:.0f} |")
    w, rg = comp["whole"], comp["regional"]
    print(f"\ncompile ratio {rg['first'] / w['first']:.3f}, step ratio {rg['step'] / w['step']:.3f}")


def main() -> None:
    """Dispatch on argv."""
    what, *args = sys.argv[1:]
    if what == "all":
        run_all()
    elif what == "steps":
        print(json.dumps(steps(args[0], int(args[1]))))
    elif what == "qkv":  # q/k/v apart: joined without a copy, copied every step, three matmuls; or one c_attn
        print(json.dumps(steps(args[0], int(args[1]), 7, ("joined", "copied", "unfused", "c_attn"))))
    elif what == "memory":
        print(json.dumps(memory(args[0] == "1")))
    elif what == "compile":
        print(json.dumps(compile_case(args[0])))


if __name__ == "__main__":
    main()

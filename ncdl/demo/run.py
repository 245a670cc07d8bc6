"""``ncdl demo``: the whole pipeline on one bundled architecture, start to finish.

For the default, the small character-level GPT of ``gpt.ncd``:

1. check    parse and check the file; print the signature and parameter count
2. render   draw the diagram to ``out/gpt.svg`` (``.dot`` without Graphviz)
3. compile  build the torch.fx module
4. train    AdamW on random windows of the shipped text (``ncdl.demo.data``), with a
            progress bar; compare the held-out loss with the text's unigram entropy
5. save     the trained ``state_dict`` to ``out/gpt.pt``
6. export   ONNX with the trained weights to ``out/gpt.onnx``
7. run      onnxruntime through :class:`ncdl.runtime.Session`; the largest
            difference from torch's outputs on the same input (parity)
8. sample   200 characters from the ONNX model

and a table of times and results. Another architecture (a bundled name or a
``.ncd`` path) runs the same stages; training needs a character language model
(one ``int[batch, seq] of vocab`` input, ``[batch, seq, vocab]`` output), so
other models skip stages 4 and 8. Every file is written atomically.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx

__all__ = ["DEFAULTS", "run_demo", "settle_threads"]

#: Training settings of the demo, sized to finish well inside five minutes on two CPU cores: 300 steps
#: took 98 s of training (1 thread, 9,400 tokens/s, machine busy) and reach a held-out loss of 1.10.
DEFAULTS = {"batch": 48, "seq": 64, "lr": 6e-3}
PROMPT = "Mira the "
PARITY_TOLERANCE = 1e-4


class _Stages:
    """Times each stage and keeps one line of result for the summary table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        print(f"\n== {name} ==", flush=True)
        note: list[str] = []
        start = time.perf_counter()
        yield note
        self.rows.append((name, time.perf_counter() - start, "; ".join(note)))

    def table(self) -> str:
        width = max(len(name) for name, _, _ in self.rows)
        lines = [f"{'stage':<{width}}  {'seconds':>8}  result", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
        lines += [f"{name:<{width}}  {secs:8.2f}  {note}" for name, secs, note in self.rows]
        lines.append(f"{'total':<{width}}  {sum(s for _, s, _ in self.rows):8.2f}")
        return "\n".join(lines)


def settle_threads() -> str | None:
    """Use one torch thread when other processes already keep the CPUs busy; say so.

    Two threads that wait for each other on an oversubscribed machine are
    several times slower than one (measured: 5x for the demo's GPT on two busy
    cores). ``OMP_NUM_THREADS`` set by the user is respected.
    """
    import torch

    if "OMP_NUM_THREADS" in os.environ or not hasattr(os, "getloadavg"):
        return None
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if cpus > 1 and load >= cpus - 0.5:
        torch.set_num_threads(1)
        return f"the machine is busy (load {load:.1f} on {cpus} CPUs): torch uses 1 thread"
    return None


def _program(arch: str) -> tuple[Any, str]:
    """The checked program of a bundled name or a ``.ncd`` path, and a file stem for outputs."""
    from ncdl import architectures
    from ncdl.program import load

    candidate = Path(arch)
    if candidate.suffix == ".ncd" and candidate.is_file():
        return load(candidate), candidate.stem
    return architectures.load(arch), Path(arch).stem


def _sample_inputs(g: nx.MultiDiGraph, seed: int = 0) -> list[Any]:
    """A random tensor per input: batch 2, other free axes 8 (or their bound), ids below their axis size."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    axes = g.graph["axes"]
    roots = {r: 2 if r == "batch" else min(8, axes[r].bound or 8) for r in g.graph["bindings"]}
    tensors = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = [axes[a].fixed if axes[a].fixed is not None else axes[a].size.evaluate(roots) for a in data["axes"]]
        if data["dtype"] == "int64":
            tensors.append(torch.randint(0, axes[data["attrs"]["of"]].fixed, shape, generator=gen))
        else:
            tensors.append(torch.randn(shape, generator=gen))
    return tensors


def _save_state(module: Any, path: Path) -> None:
    import torch

    from ncdl.files import write_atomic

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    write_atomic(path, buf.getvalue())


def run_demo(arch: str = "gpt", steps: int = 300, out: str = "out") -> int:
    """Check, render, compile, train, save, export, run and sample ``arch``; print a summary.

    Args:
        arch: a bundled architecture (``ncdl.architectures.list_architectures()``)
            or a ``.ncd`` path; the file's last model is used.
        steps: training steps (0 skips training).
        out: the folder for the diagram, weights and ONNX model (created if missing).

    Returns:
        The exit code: 0 when every stage ran and torch and onnxruntime agree,
        1 for an unknown architecture or a parity failure, 2 for bad arguments.
    """
    if steps < 0:
        print(f"ncdl demo: error: --steps must be 0 or more, got {steps}", file=sys.stderr)
        return 2
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(arch, steps, out)
    finally:
        torch.set_num_threads(threads)


def _run(arch: str, steps: int, out: str) -> int:
    stages = _Stages()
    with stages.stage("check") as note:
        try:
            program, stem = _program(arch)
        except ValueError as err:  # an unknown bundled name
            print(f"error: {err}", file=sys.stderr)
            return 1
        if not program.models:
            print(f"{program.path}: ok; a library of circuits with no model, so there is nothing to run")
            return 0
        from ncdl import ir
        from ncdl.report import signature

        name = program.models[-1]
        g = program.graph(name)
        params = ir.param_count(g)
        print(f"{program.path}: model {signature(g)}")
        print(f"parameters: {params:,}")
        note.append(f"{name}, {params:,} parameters")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _render(stages, program, name, folder / f"{stem}.svg")

    with stages.stage("compile") as note:
        import torch

        torch.manual_seed(0)
        threads = settle_threads()
        if threads:
            print(threads)
        module = program.to_torch(name)
        note.append(f"torch.fx, {len(list(module.graph.nodes))} fx nodes")
        print(f"torch.fx GraphModule with {len(list(module.graph.nodes))} nodes")

    lm = _language_model(program, name, g)
    summary: dict[str, str] = {"parameters": f"{params:,}"}
    if lm is not None and steps > 0:
        inputs = _train_lm(stages, module, lm, steps, summary)
    else:
        if steps > 0:
            print(
                f"\ntraining skipped: {name} is not a character language model for the shipped text "
                "(one int[batch, seq] of vocab input, a [batch, seq, vocab] output, vocab of at least 65)"
            )
        inputs = _sample_inputs(g) if lm is None else [lm["held_out"][: 4 * 64].reshape(4, 64)]

    with stages.stage("save") as note:
        path = folder / f"{stem}.pt"
        _save_state(module, path)
        note.append(str(path))
        print(f"wrote {path}")

    with stages.stage("export") as note:
        from ncdl.files import save_onnx

        model = program.to_onnx(name, state_dict=module.state_dict())
        onnx_path = folder / f"{stem}.onnx"
        save_onnx(model, onnx_path)
        note.append(f"{onnx_path}, {len(model.graph.node)} nodes")
        print(f"wrote {onnx_path} ({len(model.graph.node)} ONNX nodes, opset 23)")

    session, parity, ok = _run_onnx(stages, onnx_path, module, g, inputs)
    summary["parity"] = f"{parity:.2e}"
    if lm is not None:
        _sample(stages, program, name, module, onnx_path, lm)

    print("\n== summary ==")
    print(stages.table())
    print("  ".join(f"{k}: {v}" for k, v in summary.items()))
    if not ok:
        print(f"error: torch and onnxruntime disagree by {parity:.2e}", file=sys.stderr)
        return 1
    return 0


def _run_onnx(
    stages: _Stages, path: Path, module: Any, g: nx.MultiDiGraph, inputs: list[Any]
) -> tuple[Any, float, bool]:
    """Run the exported model in onnxruntime; compare with torch on the same inputs."""
    import torch

    from ncdl.runtime import Session

    with stages.stage("run (onnxruntime)") as note:
        session = Session(path)
        print(session.signature())
        feeds = {g.nodes[n]["attrs"]["name"]: t.numpy() for n, t in zip(g.graph["inputs"], inputs, strict=True)}
        got = session.run(feeds)
        module.eval()  # inference: dropout off, batch norm on running statistics, as in ONNX
        with torch.no_grad():
            want = module(*inputs)
        want = want if isinstance(want, tuple) else (want,)
        parity = max(float(abs(w.numpy() - got[k]).max()) for w, k in zip(want, session.output_names, strict=True))
        scale = max(float(abs(w).max()) for w in want)
        ok = parity <= PARITY_TOLERANCE * max(1.0, scale)
        note.append(f"max |torch - onnxruntime| = {parity:.2e} ({'ok' if ok else 'MISMATCH'})")
        outputs = ", ".join(session.output_names)
        print(f"max |torch - onnxruntime| over {outputs}: {parity:.2e} (outputs up to {scale:.3g})")
    return session, parity, ok


def _sample(stages: _Stages, program: Any, name: str, module: Any, onnx_path: Path, lm: dict[str, Any]) -> None:
    """Print 200 characters sampled through the ONNX step graph (key/value cache) and its tokens/s; a model
    that cannot be decoded a token at a time is sampled by running the whole window per character."""
    from ncdl.demo.charlm import sample, sample_cached
    from ncdl.dsl.diagnostics import NcdlError
    from ncdl.files import save_onnx
    from ncdl.runtime import Session
    from ncdl.runtime.generate import OrtDecoder

    with stages.stage("sample (onnxruntime)") as note:
        try:
            step = program.to_onnx_step(name, state_dict=module.state_dict())
        except NcdlError as err:
            print(f"no decoding step graph ({err.diagnostics[0].code}): sampling by recomputing the window")
            session = Session(onnx_path)
            text = sample(
                lambda ids: session.run({lm["input"]: ids})[session.output_names[0]],
                lm["vocab"], PROMPT, length=200, temperature=0.8, context=lm["seq"],
            )  # fmt: skip
            print(text)
            note.append(f"{len(text) - len(PROMPT)} characters")
            return
        path = onnx_path.with_suffix(".step.onnx")
        save_onnx(step, path)
        # positions past the training windows were never trained: the window stays at the training length
        text, rate = sample_cached(
            OrtDecoder(path), lm["vocab"], PROMPT, length=200, temperature=0.8, context=lm["seq"]
        )
        print(text)
        print(f"({len(text) - len(PROMPT)} characters through the cached step graph {path}: {rate:,.0f} tokens/s)")
        note.append(f"{len(text) - len(PROMPT)} characters, {rate:,.0f} tokens/s (KV cache)")


def _render(stages: _Stages, program: Any, name: str, path: Path) -> None:
    from ncdl.compiler.diagram import write_diagram

    with stages.stage("render") as note:
        message = write_diagram(program.render(name), str(path))
        if message:  # no Graphviz: the DOT text went next to it
            print(message, file=sys.stderr)
            path = path.with_suffix(".dot")
        note.append(str(path))
        print(f"wrote {path}")


def _language_model(program: Any, name: str, g: nx.MultiDiGraph) -> dict[str, Any] | None:
    """What training needs when the model is a character LM that fits the shipped text, else None."""
    from ncdl.demo import data
    from ncdl.demo.charlm import Vocabulary, lm_shape, split

    shape = lm_shape(g)
    if shape is None:
        return None
    size, bound = shape
    text = data.text()
    vocab = Vocabulary.of(text)
    if len(vocab) > size:  # the shipped text does not fit the model's vocabulary
        return None
    train_ids, held_out = split(vocab.tensor(text))
    seq_bound = bound or 128
    return {
        "vocab": vocab,
        "train": train_ids,
        "held_out": held_out,
        "entropy": data.unigram_entropy(text),
        "seq": min(DEFAULTS["seq"], seq_bound),
        "input": g.nodes[g.graph["inputs"][0]]["attrs"]["name"],
    }


def _train_lm(stages: _Stages, module: Any, lm: dict[str, Any], steps: int, summary: dict[str, str]) -> list[Any]:
    """Train on the shipped text; return a held-out batch for the parity check."""
    from ncdl.demo.charlm import TrainConfig, evaluate, train

    config = TrainConfig(steps=steps, batch=DEFAULTS["batch"], seq=lm["seq"], lr=DEFAULTS["lr"])
    with stages.stage("train") as note:
        print(
            f"{steps} steps of AdamW, batch {config.batch} x {config.seq} characters, "
            f"{len(lm['train']):,} training characters, vocabulary {len(lm['vocab'])}"
        )
        before = evaluate(module, lm["held_out"], seq=config.seq, batches=2)
        start = time.perf_counter()
        losses = train(module, lm["train"], config)
        seconds = time.perf_counter() - start
        after = evaluate(module, lm["held_out"], seq=config.seq)
        entropy = lm["entropy"]
        rate = steps * config.batch * config.seq / seconds
        print(f"held-out loss {before:.3f} -> {after:.3f} nats/char; unigram entropy of the text {entropy:.3f}")
        print(f"{rate:,.0f} tokens/s; last training loss {losses[-1]:.3f}")
        note.append(f"loss {after:.3f} vs unigram entropy {entropy:.3f} ({rate:,.0f} tok/s)")
        summary["final loss"] = f"{after:.3f}"
        summary["unigram entropy"] = f"{entropy:.3f}"
    windows = lm["held_out"][: 4 * config.seq].reshape(4, config.seq)
    return [windows]

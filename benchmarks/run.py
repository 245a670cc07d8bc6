"""All of ncdl's benchmarks in one run; writes ``BENCHMARKS.md`` at the repository root.

Run: ``.venv/bin/python benchmarks/run.py [--quick] [--out FILE]``. Every
figure is a median over repeats with warm-up runs excluded; wherever ncdl is
compared with PyTorch the two take turns inside one loop, so that load from
other processes falls on both alike. Rows that miss their target say why.
See ``benchmarks/README.md`` for what each table measures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from check_bench import section as check_scaling  # noqa: E402
from decode_bench import decoding  # noqa: E402
from frontend_bench import generate  # noqa: E402
from hf_bench import section as hf_section  # noqa: E402
from torch_models import GPT, ViT, ViTB16, ncdl_twin, randomize_norms, resnet18, resnet_program  # noqa: E402
from train_step import GPT_SHAPE, RESNET_SHAPE  # noqa: E402

import ncdl  # noqa: E402
from ncdl import architectures  # noqa: E402
from ncdl.compiler.stats import stats  # noqa: E402

#: Threads for torch and onnxruntime; 0 keeps each library's default (``--threads``, default 1).
THREADS = 1


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """The times of several functions measured in turns (see module doc), one list per function."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for i in range(repeats):
        # rotate who goes first, so that what one leaves behind (warm caches, busy threads) evens out
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            fn = fns[key]
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return times


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median of ``a[i] / b[i]``: turns measured side by side share the machine's load of that moment."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def mib(n: float) -> str:
    """Bytes as MiB."""
    return f"{n / 2**20:.1f} MiB"


# ---------------------------------------------------------------------------
# machine


def machine() -> list[str]:
    """The machine description."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; threads: torch {torch.get_num_threads()}, onnxruntime "
        f"{THREADS or 'its default'} (`--threads`)",
        f"- Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {ort.__version__}, "
        f"onnx {onnx.__version__}",
        f"- load average when the run started: {load} (other processes share this machine)",
        "",
    ]


# ---------------------------------------------------------------------------
# 1. front end


def frontend(quick: bool) -> list[str]:
    """Parse + check time of generated programs; per-line cost should stay flat."""
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    ncdl.loads(generate(100), "warmup.ncd")
    rows, first = [], None
    for n in sizes:
        text = generate(n)
        lines = text.count("\n")
        boxes = ncdl.loads(text, "bench.ncd").graph().number_of_nodes()
        seconds = median_time(lambda t=text: ncdl.loads(t, "bench.ncd"), 3 if n <= 10_000 else 1, warmup=0)
        per_line = seconds / lines * 1e6
        first = first or per_line
        verdict = "ok" if per_line <= 2 * first else f"MISS: {per_line / first:.1f}x the per-line cost of 1k lines"
        rows.append([f"{lines:,}", f"{boxes:,}", f"{seconds:.3f}", f"{per_line:.0f}", verdict])
    return [
        "## 1. Front end: parse + check",
        "",
        "Target: linear growth (time per line at most 2x that of the 1k-line program).",
        "",
        *table(["lines", "IR nodes", "parse+check (s)", "us/line", "target"], rows),
    ]


# ---------------------------------------------------------------------------
# 2. export


def _histogram(model: onnx.ModelProto) -> tuple[int, str]:
    nodes = list(model.graph.node) + [n for f in model.functions for n in f.node]
    hist = Counter(n.op_type for n in nodes)
    top = ", ".join(f"{op} {k}" for op, k in hist.most_common(8))
    return len(nodes), top + (f", +{len(hist) - 8} more" if len(hist) > 8 else "")


def torch_onnx(module: torch.nn.Module, example: tuple, dynamic: dict[str, Any] | None) -> tuple[onnx.ModelProto, str]:
    """``torch.onnx.export(..., dynamo=True)``; falls back to static shapes when dynamic ones fail."""
    note = ""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), torch.no_grad():
        try:
            program = torch.onnx.export(module, example, dynamo=True, dynamic_shapes=dynamic, verbose=False)
        except Exception as err:  # noqa: BLE001 - any export failure: retry static, and say so
            note = f"static shapes ({type(err).__name__} with dynamic ones)"
            program = torch.onnx.export(module, example, dynamo=True, verbose=False)
    return program.model_proto, note


def _export_cases(quick: bool) -> list[tuple[str, Callable[[], tuple]]]:
    def gpt_small() -> tuple:
        ref = GPT(65, 128, 128, 4, 4).eval()
        program = architectures.load("gpt")
        return program, "GPT", ref, ncdl_twin(ref, program, "GPT"), _gpt_example(ref, 128)

    def gpt_768() -> tuple:
        ref = GPT(50257, 1024, 768, 12, 12).eval()
        program = architectures.load("gpt")
        return program, "GPT2Small", ref, ncdl_twin(ref, program, "GPT2Small"), _gpt_example(ref, 1024)

    def resnet18() -> tuple:
        ref = randomize_norms(resnet18()).eval()
        program = architectures.load("resnet")
        twin = ncdl_twin(ref, program, "ResNet18")
        dim = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
        return program, "ResNet18", ref, twin, ((torch.randn(2, 3, 224, 224),), dim)

    def vit() -> tuple:
        ref = ViTB16().eval()
        program = architectures.load("vit")
        twin = ncdl_twin(ref, program, "ViTB16")
        dim = {"image": {0: torch.export.Dim("batch", min=1, max=1024)}}
        return program, "ViTB16", ref, twin, ((torch.randn(2, 3, 224, 224),), dim)

    cases = [("GPT (4 x 128, default)", gpt_small), ("ResNet-18 (224x224)", resnet18)]
    if not quick:
        cases += [("GPT (12 x 768, GPT-2 small)", gpt_768), ("ViT-B/16", vit)]
    return cases


def _gpt_example(ref: torch.nn.Module, ctx: int) -> tuple:
    dim = {"tokens": {0: torch.export.Dim("batch", min=1, max=1024), 1: torch.export.Dim("seq", min=2, max=ctx)}}
    return (torch.randint(0, ref.lm_head.weight.shape[0], (2, 16)),), dim


def export(quick: bool) -> tuple[list[str], dict[str, Any]]:
    """ncdl text -> ONNX against torch.onnx.export(dynamo=True) of the hand-written model."""
    rows, keep = [], {}
    for label, make in _export_cases(quick):
        program, model, ref, twin, (example, dynamic) = make()
        state = twin.state_dict()
        text = program.text

        def ours(
            text: str = text, path: str = program.path, model: str = model, state: dict = state
        ) -> onnx.ModelProto:
            return ncdl.loads(text, path).to_onnx(model, state_dict=state)

        big = ref.lm_head.weight.shape[0] > 1000 if isinstance(ref, GPT) else isinstance(ref, ViT)
        t_ours = median_time(ours, 2 if big or quick else 3, warmup=1)
        mine = ours()
        start = time.perf_counter()
        theirs, note = torch_onnx(ref, example, dynamic)
        t_torch = time.perf_counter() - start
        speedup = t_torch / t_ours
        verdict = "ok" if speedup >= 10 else f"MISS: {speedup:.1f}x < 10x"
        for who, proto, seconds in (("ncdl", mine, t_ours), ("torch.onnx (dynamo)", theirs, t_torch)):
            count, hist = _histogram(proto)
            extra = f" ({note})" if note and who != "ncdl" else ""
            rows.append([label, who + extra, f"{seconds:.2f}", count, hist, verdict if who == "ncdl" else ""])
        if model in ("GPT",):
            keep[model] = (mine, theirs, ref, twin)
        del mine, theirs
    lines = [
        "## 2. Export: source text -> ONNX",
        "",
        "ncdl: parse + check + `to_onnx` with the weights of the hand-written model. torch: "
        "`torch.onnx.export(model, dynamo=True)` of the hand-written model (dynamic batch and sequence), "
        "default optimisation. Median of 3 ncdl runs (2 for the large models and in --quick) after one "
        "warm-up; one torch run (it takes seconds). Node counts include "
        "nodes inside ONNX functions. Target: ncdl at least 10x faster.",
        "",
        *table(["model", "exporter", "time (s)", "nodes", "op histogram (top 8)", "target"], rows),
    ]
    return lines, keep


# ---------------------------------------------------------------------------
# 3. training (+ 5. achieved FLOP/s)


def _train_worker(model: str, mode: str, warmup: int, repeats: int, env: dict[str, str]) -> dict[str, Any] | str:
    """Run ``train_step.py`` in a fresh process; its JSON, or the last line of its error."""
    cmd = [sys.executable, str(HERE / "train_step.py"), model, mode, str(warmup), str(repeats), str(THREADS)]
    done = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines()[-1:] or ["no output"])[0][:120]
    return json.loads(done.stdout.strip().splitlines()[-1])


def training(quick: bool) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Forward + backward + AdamW step of ncdl's module vs the hand-written one (subprocesses)."""
    rows, medians = [], {}
    modes = ["eager"] if quick else ["eager", "compile"]
    for model, label in (("gpt", "GPT (4 x 128), batch 8 x 128"), ("resnet", "ResNet-18, batch 8 x 64x64")):
        for mode in modes:
            warmup, repeats = (1, 3) if quick else ((2, 12) if mode == "eager" else (3, 10))
            # time with the normal allocator; memory in a second process whose allocator returns freed
            # tensors to the kernel (that allocator makes every step page-fault, so it is not timed)
            timed = _train_worker(model, mode, warmup, repeats, {})
            sized = _train_worker(model, mode, warmup, 3, {"MALLOC_MMAP_THRESHOLD_": "65536"})
            if isinstance(timed, str) or isinstance(sized, str):
                rows.append(
                    [label, mode, "failed", "", "", "", "", "", f"MISS: {timed if isinstance(timed, str) else sized}"]
                )
                continue
            t = {k: statistics.median(v["times"]) for k, v in timed.items()}
            m = {k: statistics.median(v["peaks"]) for k, v in sized.items()}
            data = timed
            medians[f"{model}/{mode}"] = t
            rt = paired_ratio(data["ncdl"]["times"], data["torch"]["times"])
            rm = m["ncdl"] / max(m["torch"], 1)
            misses = []
            if rt > 1.05:
                misses.append(f"time {rt:.3f}x")
            if rm > 1.05:
                misses.append(f"memory {rm:.3f}x")
            verdict = "ok" if not misses else "MISS: " + ", ".join(misses) + " > 1.05x"
            rows.append(
                [
                    label,
                    mode,
                    f"{t['ncdl'] * 1e3:.0f}",
                    f"{t['torch'] * 1e3:.0f}",
                    f"{rt:.3f}",
                    mib(m["ncdl"]),
                    mib(m["torch"]),
                    f"{rm:.3f}",
                    verdict,
                ]
            )
    lines = [
        "## 3. Training step: compiled ncdl module vs hand-written PyTorch",
        "",
        "Same weights, same batch; a step is `zero_grad`, forward, cross-entropy, backward, AdamW. "
        "Both models live in one process and take turns step by step (who goes first alternates); the time "
        "ratio is the median of the per-turn ratios. Peak memory, measured in a second process: the rise of "
        "the resident set during a step above its resting state (parameters and AdamW state excluded), with "
        "the kernel's high-water mark reset before each step and glibc told to return every allocation of "
        "64 KiB or more to the kernel on free (`MALLOC_MMAP_THRESHOLD_=65536`), so resident memory tracks "
        "live tensors (that setting makes each step page-fault, so it is not the timed process). `compile` wraps the module in `torch.compile` "
        "(default inductor); warm-up steps (which compile) are excluded. Target: ratios at most 1.05.",
        "",
        *table(
            [
                "model",
                "mode",
                "ncdl (ms)",
                "torch (ms)",
                "time ratio",
                "ncdl peak",
                "torch peak",
                "memory ratio",
                "target",
            ],
            rows,
        ),
    ]
    return lines, medians


# ---------------------------------------------------------------------------
# 4. inference


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if THREADS:
        options.intra_op_num_threads = THREADS
    # idle onnxruntime threads would otherwise spin and steal the cores from torch eager's turn
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def inference(quick: bool, exported: dict[str, Any]) -> list[str]:
    """onnxruntime on ncdl's ONNX vs torch's ONNX vs torch eager, batch 1 and 32."""
    rows = []
    resnet_ref = randomize_norms(resnet18()).eval()
    resnet_twin = ncdl_twin(resnet_ref, resnet_program(64), "ResNet18").eval()
    resnet_ours = resnet_program(64).to_onnx("ResNet18", state_dict=resnet_twin.state_dict())
    dim = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
    resnet_theirs, _ = torch_onnx(resnet_ref, (torch.randn(2, 3, 64, 64),), dim)
    cases = {
        "GPT (4 x 128), seq 128": (*exported["GPT"], lambda b: torch.randint(0, 65, (b, 128))),
        "ResNet-18 64x64": (resnet_ours, resnet_theirs, resnet_ref, resnet_twin, lambda b: torch.randn(b, 3, 64, 64)),
    }
    repeats = 6 if quick else 24
    for label, (ours, theirs, ref, _twin, make) in cases.items():
        s_ours, s_theirs = _session(ours), _session(theirs)
        for batch in (1, 32):
            x = make(batch)
            feed_ours = {s_ours.get_inputs()[0].name: x.numpy()}
            feed_theirs = {s_theirs.get_inputs()[0].name: x.numpy()}
            n = repeats if batch == 1 else max(3, repeats // 3)
            turns = interleaved(
                {
                    "ours": lambda s=s_ours, f=feed_ours: s.run(None, f),
                    "theirs": lambda s=s_theirs, f=feed_theirs: s.run(None, f),
                },
                n,
                warmup=2,
            )
            t = {k: statistics.median(v) for k, v in turns.items()}
            # torch eager on its own: its OpenMP threads keep spinning after a call
            with torch.inference_mode():
                t["eager"] = median_time(lambda m=ref, x=x: m(x), n, warmup=2)
            same = np.allclose(s_ours.run(None, feed_ours)[0], s_theirs.run(None, feed_theirs)[0], atol=1e-3)
            ratio = paired_ratio(turns["ours"], turns["theirs"])
            verdict = "ok" if ratio <= 1.0 else f"MISS: {ratio:.3f}x torch's ONNX"
            if not same:
                verdict += " (outputs differ!)"
            for who, key in (("ncdl ONNX + ort", "ours"), ("torch ONNX + ort", "theirs"), ("torch eager", "eager")):
                rows.append(
                    [
                        label,
                        batch,
                        who,
                        f"{t[key] * 1e3:.2f}",
                        f"{batch / t[key]:.0f}",
                        f"{ratio:.3f}" if key == "ours" else f"{t[key] / t['theirs']:.2f}",
                        verdict if key == "ours" else "",
                    ]
                )
    return [
        "## 4. Inference: onnxruntime latency and throughput",
        "",
        "Both ONNX models hold the same weights (ResNet's batch norms randomised, as after training); onnxruntime CPU provider, default session options except "
        "that idle threads do not spin (so they leave the cores to torch eager's turn). "
        "The two ONNX sessions take turns (who goes first rotates); torch eager is timed in its own loop "
        "afterwards, since its OpenMP threads keep spinning after each call. Latency is the median time of one "
        "call; throughput is batch / latency. Target: ncdl's ONNX "
        "no slower than torch's (ratio at most 1.0).",
        "",
        *table(["model", "batch", "runtime", "latency (ms)", "items/s", "vs torch ONNX", "target"], rows),
    ]


# ---------------------------------------------------------------------------
# 5. GEMM peak and achieved FLOP/s


def gemm_peak(quick: bool) -> float:
    """GFLOP/s of a large fp32 matmul (median)."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_time(lambda: a @ b, 3 if quick else 7, warmup=2)
    return 2 * n**3 / seconds / 1e9


def utilisation(peak: float, medians: dict[str, dict[str, float]]) -> list[str]:
    """Each training step's achieved FLOP/s (3 x forward FLOPs from the IR) against the GEMM peak."""
    forward = {
        "gpt": stats(architectures.load("gpt").graph("GPT"), {"batch": GPT_SHAPE[0], "seq": GPT_SHAPE[1]})["flops"],
        "resnet": stats(resnet_program(RESNET_SHAPE[1]).graph("ResNet18"), {"batch": RESNET_SHAPE[0]})["flops"],
    }
    rows = []
    for key, t in medians.items():
        model, mode = key.split("/")
        flops = 3 * forward[model]
        for impl in ("ncdl", "torch"):
            achieved = flops / t[impl] / 1e9
            rows.append([model, mode, impl, f"{flops / 1e9:.2f}", f"{achieved:.1f}", f"{achieved / peak:.0%}"])
    return [
        "## 5. GEMM peak and achieved FLOP/s",
        "",
        f"Peak: a 2048 x 2048 fp32 matmul runs at **{peak:.1f} GFLOP/s** on this machine. A training step "
        "costs about 3x the forward FLOPs (`ncdl stats`, torch.utils.flop_counter's convention: matmuls, "
        "convolutions and attention only); achieved = that / the median step time of table 3.",
        "",
        *table(["model", "mode", "impl", "GFLOP per step", "achieved GFLOP/s", "of peak"], rows),
    ]


# ---------------------------------------------------------------------------


#: The section ``benchmarks/scale_bench.py`` measures; this script keeps it when it rewrites the report.
SCALE_HEADING = "## 10. Training at scale"


def main() -> None:
    """Run every benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (under 2 minutes)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="where to write the report")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for torch and onnxruntime (default 1; 0: each library's own)"
    )
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    if THREADS:
        torch.set_num_threads(THREADS)
    started = time.perf_counter()
    torch.manual_seed(0)
    head = machine()
    sections: list[list[str]] = []
    print("front end ...", file=sys.stderr)
    sections.append(frontend(args.quick))
    print("export ...", file=sys.stderr)
    lines, exported = export(args.quick)
    sections.append(lines)
    print("training ...", file=sys.stderr)
    lines, medians = training(args.quick)
    sections.append(lines)
    print("inference ...", file=sys.stderr)
    sections.append(inference(args.quick, exported))
    print("GEMM peak ...", file=sys.stderr)
    sections.append(utilisation(gemm_peak(args.quick), medians))
    print("decoding ...", file=sys.stderr)
    sections.append(decoding(args.quick))
    print("Llama and BERT vs transformers ...", file=sys.stderr)
    sections.append(hf_section(args.quick))
    print("check, export and compile at scale ...", file=sys.stderr)
    sections.append(["", *check_scaling(args.quick)])
    minutes = (time.perf_counter() - started) / 60
    mode = "quick" if args.quick else "full"
    out = [
        "# Benchmarks",
        "",
        f"Generated by `.venv/bin/python benchmarks/run.py{' --quick' if args.quick else ''}{f' --threads {THREADS}' if THREADS != 1 else ''}` ({mode} run, "
        f"{minutes:.1f} minutes). See `benchmarks/README.md` for what each table measures.",
        "",
        *head,
    ]
    for section in sections:
        out += section
    previous = Path(args.out).read_text() if Path(args.out).exists() else ""
    if SCALE_HEADING in previous:  # written by benchmarks/scale_bench.py (minutes of compiling): kept as it is
        kept = previous[previous.index(SCALE_HEADING) :]
        kept = kept.split("\n## 11. Check, export and compile at scale")[0]  # written again above
        out += ["", kept.rstrip()]
    Path(args.out).write_text("\n".join(out).rstrip() + "\n")
    print(f"wrote {args.out} in {minutes:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()

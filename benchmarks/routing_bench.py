"""Routing and scans: the routed mixture of experts against its dense lowering, and the scan's memory.

Run: ``nice .venv/bin/python benchmarks/routing_bench.py`` (about a minute, one thread). Prints the
BENCHMARKS.md section "7. Routing and scans". Not a test: timings are noisy.

* MoE: the same ncdl program (top-2 of 8 SwiGLU experts, the layout of ``architectures/moe.ncd`` at
  model 256, ffn 512, 2048 tokens) compiled twice: routed (each expert on its tokens, the default
  torch lowering) and dense (every expert on every token: the ``route_experts`` pass left out). The
  two take turns; the target is routed <= (k/E + 0.15) x dense.
* scan: ``scan[seq](a, b)`` over [seq, inner = 64, state = 16] at 1k, 4k and 16k steps: the bytes
  autograd keeps for the backward pass (every tensor saved, summed) and the forward+backward time.
  Linear memory shows as flat bytes per step.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

import ncdl
import ncdl.compiler.fx as fx_backend
from ncdl.compiler.pipeline import FX_PASSES, ROUTE_EXPERTS

MOE = """
axis tok, model = 256, expert = 8, choice = 2, ffn = 512
circuit Experts[model, expert, ffn, gu = 2 * ffn](x: [model]) -> [expert, model] {
    h = split[gu -> half ffn](contract[model](x, param[expert, gu, model]() as gate_up_proj))
    return contract[ffn](silu(select[half](h, index=0)) * select[half](h, index=1), param[expert, model, ffn]() as down_proj)
}
model Moe(x: [tok, model]) -> [tok, model] {
    w, top = topk[expert -> choice](softmax[expert](linear[model -> expert](x, bias=false) as gate), k=choice)
    return moe[expert](scatter[choice -> expert](w / sum[choice](w), top), Experts(x) as experts)
}
"""

SCAN = """
axis seq, inner = 64, state = 16
model Scan(a: [seq, inner, state], b: [seq, inner, state]) -> [seq, inner, state] { return scan[seq](a, b) }
"""


def _median_pair(f: object, g: object, repeats: int) -> tuple[float, float]:
    """Medians of f() and g() run in turns, after one warm-up each."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats + 1):
        for j, fn in enumerate((f, g)):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            if i:
                times[j].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def moe_rows(tokens: int = 2048, repeats: int = 5) -> list[str]:
    """The routed and dense forward times and their ratio."""
    program = ncdl.loads(MOE)
    routed = program.to_torch()
    saved = fx_backend.FX_PASSES
    fx_backend.FX_PASSES = tuple(p for p in FX_PASSES if p is not ROUTE_EXPERTS)
    try:
        dense = program.to_torch()
    finally:
        fx_backend.FX_PASSES = saved
    torch.manual_seed(0)
    with torch.no_grad():
        for p in routed.parameters():
            p.normal_(0.0, 0.05)
    dense.load_state_dict(routed.state_dict())
    x = torch.randn(tokens, 256)
    with torch.no_grad():
        assert torch.allclose(routed(x), dense(x), rtol=1e-4, atol=1e-4)
        t_routed, t_dense = _median_pair(lambda: routed(x), lambda: dense(x), repeats)
    ratio, target = t_routed / t_dense, 2 / 8 + 0.15
    verdict = "ok" if ratio <= target else "MISS"
    return [f"| {tokens} | {t_dense * 1e3:.1f} | {t_routed * 1e3:.1f} | {ratio:.3f} | {target:.2f} | {verdict} |"]


def _saved_bytes(fn: object, *args: torch.Tensor) -> int:
    """The bytes of every tensor autograd saves for the backward pass of ``fn(*args)``."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)  # type: ignore[operator]
    return total


def scan_rows(lengths: tuple[int, ...] = (1024, 4096, 16384)) -> list[str]:
    """Saved bytes per step and forward+backward time at each length."""
    gm = ncdl.loads(SCAN).to_torch()
    rows = []
    for n in lengths:
        a = (torch.rand(n, 64, 16) * 0.5 + 0.5).requires_grad_()
        b = torch.randn(n, 64, 16).requires_grad_()
        saved = _saved_bytes(gm, a, b)
        out_bytes = n * 64 * 16 * 4

        def step(a: torch.Tensor = a, b: torch.Tensor = b) -> None:
            gm(a, b).sum().backward()

        t, _ = _median_pair(step, lambda: None, 3)
        rows.append(f"| {n:,} | {saved / 2**20:.1f} | {saved / n:,.0f} | {saved / out_bytes:.2f} | {t * 1e3:.0f} |")
    return rows


def main() -> None:
    """Print the section."""
    torch.set_num_threads(1)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print("## 7. Routing and scans\n")
    print(
        "`benchmarks/routing_bench.py`, one thread, load average "
        f"{load}. MoE: top-2 of 8 SwiGLU experts (model 256, ffn 512), the routed torch lowering "
        "(each expert on its tokens) against the same program lowered densely (every expert on every token), "
        "forward, median of 5 in turns. Target: routed <= (k/E + 0.15) x dense = 0.40.\n"
    )
    print("| tokens | dense (ms) | routed (ms) | routed / dense | target | |")
    print("|---|---|---|---|---|---|")
    print("\n".join(moe_rows()))
    print(
        "\nScan: `scan[seq](a, b)` over [seq, 64, 16], forward + backward. Memory is what autograd keeps for "
        "the backward pass (every saved tensor, summed): linear in the length when bytes per step stay flat "
        "(an L x L formulation would grow 16x from 1k to 16k steps).\n"
    )
    print("| steps | saved (MiB) | saved bytes / step | saved / output size | fwd+bwd (ms) |")
    print("|---|---|---|---|---|")
    print("\n".join(scan_rows()))


if __name__ == "__main__":
    main()

"""Front-end speed: parse + check time of generated 1k, 10k and 100k-line programs.

Run: ``.venv/bin/python benchmarks/frontend_bench.py``. Prints one row per
size with the median of a few runs and the time per line, so that linear
growth shows as a flat last column. Not a test: timings are noisy.
"""

from __future__ import annotations

import statistics
import sys
import time

import ncdl

HEADER = """\
axis batch
axis seq <= 512
axis model = 64, hidden = 256
"""

# One "layer" circuit: 10 lines, ~8 boxes.
LAYER = """\
circuit Layer{i}(x: [seq, model]) -> [seq, model] {{
    h = layernorm[model](x)
    h = linear[model -> hidden](h) as up
    h = gelu(h)
    h = dropout(h, p=0.1)
    h = linear[hidden -> model](h) as down
    x = x + h * 0.5
    return x
}}

"""


def generate(lines: int) -> str:
    """A program of about ``lines`` lines: many circuits and one model calling them."""
    count = max(1, (lines - 8) // 11)
    parts = [HEADER, "\n"]
    parts += [LAYER.format(i=i) for i in range(count)]
    parts.append("model Big(x: [batch, seq, model]) -> [batch, seq, model] {\n")
    parts += [f"    x = Layer{i}(x)\n" for i in range(count)]
    parts.append("    return x\n}\n")
    return "".join(parts)


def measure(text: str, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of parse + check (CPU time is what a
    busy machine does not inflate)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        ncdl.loads(text, "bench.ncd")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    sizes = [1_000, 10_000, 100_000]
    if "--quick" in sys.argv:
        sizes = sizes[:2]
    ncdl.loads(generate(100), "warmup.ncd")
    print(f"{'lines':>8} {'boxes':>8} {'wall (s)':>9} {'cpu (s)':>8} {'cpu us/line':>12}")
    for n in sizes:
        text = generate(n)
        actual = text.count("\n")
        boxes = ncdl.loads(text, "bench.ncd").graph().number_of_nodes()
        wall, cpu = measure(text, 3 if n <= 10_000 else 1)
        print(f"{actual:>8} {boxes:>8} {wall:>9.3f} {cpu:>8.3f} {cpu / actual * 1e6:>12.1f}")


if __name__ == "__main__":
    main()

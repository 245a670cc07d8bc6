"""One training configuration, measured in its own process (called by ``run.py``).

``python benchmarks/train_step.py MODEL MODE WARMUP REPEATS [THREADS]`` with
MODEL ``gpt`` or ``resnet``, MODE ``eager`` or ``compile`` and THREADS the
torch thread count (0 or absent: torch's default); prints one JSON line
``{"ncdl": {"times": [...], "peaks": [...]}, "torch": {...}}``.

Both implementations (the same weights, the same batch) live in the one
process and take turns, step by step (who goes first alternates), so that load from other processes
on the machine falls on both alike. A step is ``zero_grad``, forward,
cross-entropy, backward and an AdamW step. Peak memory is the rise of the process's resident set during a step
above its resting state after warm-up (parameters, gradients, optimizer
state): the kernel's high-water mark is reset before each step (write ``5``
to ``/proc/self/clear_refs``) and read after it. ``run.py`` takes times from
one run of this process and peaks from a second one started with
``MALLOC_MMAP_THRESHOLD_=65536``, so that glibc hands every tensor of 64 KiB or
more straight back to the kernel when it is freed and resident memory tracks
the bytes of live tensors (every step then page-faults: that run is not timed).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_models import GPT, ncdl_twin, resnet18, resnet_program  # noqa: E402

from ncdl import architectures  # noqa: E402

#: Training shapes: (batch, sequence) for GPT, (batch, image side) for ResNet-18.
GPT_SHAPE = (8, 128)
RESNET_SHAPE = (8, 64)


def build(model: str, impl: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The module to train and one batch of inputs and targets."""
    torch.manual_seed(0)
    if model == "gpt":
        batch, seq = GPT_SHAPE
        ref = GPT(65, 128, 128, 4, 4)
        x, y = torch.randint(0, 65, (batch, seq)), torch.randint(0, 65, (batch, seq))
        return (ncdl_twin(ref, architectures.load("gpt"), "GPT") if impl == "ncdl" else ref), x, y
    batch, side = RESNET_SHAPE
    ref = resnet18()
    x, y = torch.randn(batch, 3, side, side), torch.randint(0, 1000, (batch,))
    return (ncdl_twin(ref, resnet_program(side), "ResNet18") if impl == "ncdl" else ref), x, y


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _trainer(model: str, impl: str, mode: str) -> Callable[[], None]:
    module, x, y = build(model, impl)
    module.train()
    run = torch.compile(module) if mode == "compile" else module
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = run(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()

    return step


def main() -> None:
    """Measure and print the JSON line."""
    model, mode, warmup, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if len(sys.argv) > 5 and int(sys.argv[5]):
        torch.set_num_threads(int(sys.argv[5]))
    steps = {impl: _trainer(model, impl, mode) for impl in ("ncdl", "torch")}
    for step in steps.values():
        for _ in range(warmup):
            step()
    result = {impl: {"times": [], "peaks": []} for impl in steps}
    impls = list(steps)
    for i in range(repeats):
        for impl in impls[i % 2 :] + impls[: i % 2]:  # who goes first alternates
            step = steps[impl]
            base = _status("VmRSS")
            Path("/proc/self/clear_refs").write_text("5")
            start = time.perf_counter()
            step()
            result[impl]["times"].append(time.perf_counter() - start)
            result[impl]["peaks"].append(_status("VmHWM") - base)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

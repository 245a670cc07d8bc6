"""examples/train_ddp.py under torchrun: 2 CPU processes, DDP and FSDP2, a few steps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ncdl import architectures

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("flags", [[], ["--fsdp", "--checkpoint"]], ids=["ddp", "fsdp"])
def test_torchrun_trains_and_saves_the_full_state_dict(tmp_path: Path, flags: list[str]) -> None:
    out = tmp_path / "gpt.pt"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
    ]
    command += [str(ROOT / "examples" / "train_ddp.py"), "--steps", "12", "--out", str(out), *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [float(line.split()[-1]) for line in result.stdout.splitlines() if line.startswith("step")]
    assert len(losses) == 3 and losses[-1] < losses[0]
    state = torch.load(out)
    torch.manual_seed(0)
    reference = architectures.load("gpt").to_torch("GPT").state_dict()
    assert [(k, v.shape) for k, v in state.items()] == [(k, v.shape) for k, v in reference.items()]

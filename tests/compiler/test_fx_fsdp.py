"""Hierarchical modules train under DDP and FSDP2 (2 processes, gloo, CPU) exactly as in one process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from ncdl import architectures
from ncdl.torch_utils import units

#: (file, model): the GPT, Llama (grouped-query attention, rotary positions) and a pre-norm transformer encoder.
MODELS = [("gpt", "GPT"), ("llama", "Llama"), ("encoder", "PreNormEncoder")]
STEPS = 3


def _batch(model: str) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    if model in ("GPT", "Llama"):
        vocab = 65 if model == "GPT" else 256
        return torch.randint(0, vocab, (4, 16), generator=gen), torch.randint(0, vocab, (4, 16), generator=gen)
    return torch.randn(4, 6, 128, generator=gen), torch.randn(4, 6, 128, generator=gen)


def _loss(model: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if model in ("GPT", "Llama"):
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))
    return F.mse_loss(out, target)


def _module(name: str, model: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return architectures.load(name).to_torch(model).eval()  # eval: no dropout, so runs are comparable


def _train(module: torch.nn.Module, model: str, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    # SGD, not Adam: Adam scales even rounding-level gradients (attention's k bias has a zero one) to full steps
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = _loss(model, module(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses


def _worker(rank: int, world: int, port: int, name: str, model: str, mode: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        gm = _module(name, model)
        if mode == "fsdp":
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            mesh = init_device_mesh("cpu", (world,))
            for block in units(gm, 1):
                fully_shard(gm.get_submodule(block), mesh=mesh)
            fully_shard(gm, mesh=mesh)
            trained = gm
        else:
            trained = torch.nn.parallel.DistributedDataParallel(gm)
        x, y = _batch(model)
        losses = _train(trained, model, x.chunk(world)[rank], y.chunk(world)[rank])
        for loss in losses:
            dist.all_reduce(loss)  # the mean of the halves' mean losses is the whole batch's
        params = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach() for k, v in gm.named_parameters()}
        if rank == 0:
            torch.save({"losses": [float(v) / world for v in losses], "params": params}, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.parametrize(("name", "model"), MODELS, ids=[m for _, m in MODELS])
def test_two_processes_train_like_one(tmp_path: Path, name: str, model: str, mode: str) -> None:
    gm = _module(name, model)
    assert units(gm, 1), "the module has blocks to shard"
    x, y = _batch(model)
    expected = _train(gm, model, x, y)
    out = tmp_path / "run.pt"
    for attempt in range(2):  # a busy machine can make gloo's startup fail once (port race)
        try:
            mp.spawn(_worker, args=(2, _free_port(), name, model, mode, str(out)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException:
            if attempt == 1:
                raise
    got = torch.load(out)
    assert got["losses"] == pytest.approx([float(v) for v in expected], abs=1e-5)
    assert list(got["params"]) == [k for k, _ in gm.named_parameters()]
    for key, p in gm.named_parameters():
        torch.testing.assert_close(got["params"][key], p.detach(), rtol=0, atol=1e-5, msg=key)

"""DistributedDataParallel (2 processes, gloo) gives the gradients of one process on the whole batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import networkx as nx
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from irbuild import IRBuilder

from ncdl.compiler.fx import lower_fx


def _model() -> nx.MultiDiGraph:
    b = IRBuilder("MLP")
    b.axis("batch")
    b.axis("seq", bound=8)
    b.axis("model", 4)
    b.axis("hidden", 8)
    x = b.input("x", ["batch", "seq", "model"])
    h = b.op("layernorm", [x], b.axes_of(x), name="h", axes=["model"], eps=1e-5, affine=False, bias=False)
    h = b.linear(h, ["model"], ["hidden"], scope="up", name="h")
    h = b.op("relu", [h], b.axes_of(h), name="h")
    b.output(b.linear(h, ["hidden"], ["model"], scope="down", name="y"))
    return b.graph()


def _worker(
    rank: int,
    world: int,
    port: int,
    graph: nx.MultiDiGraph,
    state: dict,
    x: torch.Tensor,
    target: torch.Tensor,
    out: str,
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        gm = lower_fx(graph)
        gm.load_state_dict(state)
        model = torch.nn.parallel.DistributedDataParallel(gm)
        F.mse_loss(model(x.chunk(world)[rank]), target.chunk(world)[rank]).backward()
        if rank == 0:
            torch.save({name: p.grad for name, p in gm.named_parameters()}, out)
        # both ranks reach the end before gloo tears down (a rank leaving early
        # can abort the other's transport threads)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_gradients_equal_a_single_process_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = _model()
    gm = lower_fx(graph)
    x, target = torch.randn(6, 5, 4), torch.randn(6, 5, 4)
    F.mse_loss(gm(x), target).backward()
    out = tmp_path / "grads.pt"
    for attempt in range(2):  # a busy machine can make gloo's startup fail once (port race)
        try:
            mp.spawn(_worker, args=(2, _free_port(), graph, gm.state_dict(), x, target, str(out)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException:
            if attempt == 1:
                raise
    grads = torch.load(out)
    assert set(grads) == {name for name, _ in gm.named_parameters()}
    for name, p in gm.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, atol=1e-6, rtol=1e-5)

"""A hierarchical GPT splits at a block boundary into a two-stage pipeline (2 processes, gloo, CPU).

``torch.distributed.pipelining`` traces the module and cuts it where a block
begins; each process runs one stage under the GPipe schedule. One training
step must give the single-process loss and gradients.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import ncdl
from ncdl import architectures

SPLIT = "h.2"  # 4 blocks: h.0, h.1 | h.2, h.3

# gpt.ncd's GPT without the tied lm_head: a weight used by two stages is one
# torch's pipelining cannot place (see docs/torch.md, pipeline parallelism)
UNTIED_GPT = """\
use "transformer.ncd"
axis batch
axis seq <= 64
model G[vocab = 65, model = 64, heads = 4](tokens: int[batch, seq] of vocab) -> [batch, seq, vocab] {
    x = embed[vocab -> model](tokens) as wte + param[seq, model](init=normal(0.02)) as wpe
    repeat 4 as h { x = DecoderBlock(x) }
    return x -> layernorm[model] as ln_f -> linear[model -> vocab](bias=false) as lm_head
}
"""


def _module() -> torch.nn.Module:
    torch.manual_seed(0)
    program = ncdl.loads(UNTIED_GPT, str(architectures.path("gpt")))
    return program.to_torch("G").eval()  # eval: no dropout, so runs are comparable


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randint(0, 65, (4, 16), generator=gen), torch.randint(0, 65, (4, 16), generator=gen)


def _loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))


def _worker(rank: int, port: int, out: str) -> None:
    from torch.distributed.pipelining import PipelineStage, ScheduleGPipe, SplitPoint, pipeline

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        gm = _module()
        x, y = _batch()
        pipe = pipeline(gm, mb_args=(x.chunk(2)[0],), split_spec={SPLIT: SplitPoint.BEGINNING})
        stage_module = pipe.get_stage_module(rank)
        stage = PipelineStage(stage_module, rank, 2, torch.device("cpu"))
        # the schedule divides the summed microbatch gradients by their count (scale_grads): the batch mean's
        schedule = ScheduleGPipe(stage, n_microbatches=2, loss_fn=_loss)
        losses: list[torch.Tensor] = []
        if rank == 0:
            schedule.step(x)
        else:
            schedule.step(target=y, losses=losses)
        grads = {name: p.grad for name, p in stage_module.named_parameters()}
        torch.save({"losses": [float(v) for v in losses], "grads": grads}, f"{out}.{rank}")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_two_stage_pipeline_trains_like_one_process(tmp_path: Path) -> None:
    gm = _module()
    x, y = _batch()
    loss = _loss(gm(x), y)
    loss.backward()
    out = tmp_path / "stage"
    for attempt in range(2):  # a busy machine can make gloo's startup fail once (port race)
        try:
            mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException:
            if attempt == 1:
                raise
    first, last = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    assert sum(last["losses"]) / 2 == pytest.approx(float(loss), abs=2e-5)  # the microbatches' mean losses
    grads = {**first["grads"], **last["grads"]}
    expected = {name: p.grad for name, p in gm.named_parameters()}
    assert set(first["grads"]).isdisjoint(last["grads"]) and set(grads) == set(expected)
    assert any(name.startswith("h.1.") for name in first["grads"]) and "lm_head.weight" in last["grads"]
    for name, g in grads.items():
        torch.testing.assert_close(g, expected[name], rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")

"""Train the bundled GPT data-parallel on several processes: DDP or FSDP2, CPU (gloo) or GPU (nccl).

Launch with torchrun, one process per device (or two on one CPU machine)::

    torchrun --nproc-per-node 2 examples/train_ddp.py                 # DDP
    torchrun --nproc-per-node 2 examples/train_ddp.py --fsdp --steps 50

The module is ncdl's hierarchical lowering (the default): each decoder block
is a submodule ``gm.transformer.h[i]``, so FSDP2 shards block by block (``fully_shard``
on each block, then on the root) and ``--checkpoint`` recomputes each
block's activations in the backward pass. Every process trains on its own
slice of each batch; rank 0 prints the loss (averaged over the processes)
and, with ``--out``, saves the full ``state_dict`` (the same keys as a
single-process module's).

The data is a fixed cyclic character pattern, so the loss visibly falls in
a few dozen steps; swap in your own tokens for real training.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ncdl import architectures
from ncdl.torch_utils import checkpoint, units

PATTERN = "the circuit is the program; "


def batches(batch: int, seq: int, vocab: int, seed: int):  # noqa: ANN201
    """Endless (input, target) windows of the cyclic pattern, the same on every process."""
    ids = torch.tensor([ord(c) % vocab for c in PATTERN * (seq // len(PATTERN) + 2)])
    gen = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, len(PATTERN), (batch,), generator=gen)
        windows = torch.stack([ids[s : s + seq + 1] for s in starts.tolist()])
        yield windows[:, :-1], windows[:, 1:]


def main(argv: list[str] | None = None) -> list[float]:
    """Parse arguments, train, return rank 0's losses (empty on other ranks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdp", action="store_true", help="shard with FSDP2 (fully_shard per block) instead of DDP")
    parser.add_argument("--checkpoint", action="store_true", help="recompute each block's activations in backward")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8, help="global batch (split across processes)")
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--out", type=Path, help="save the trained state_dict here (rank 0)")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    try:
        torch.manual_seed(0)  # the same initial weights on every process
        gm = architectures.load("gpt").to_torch("GPT").to(device)
        if args.checkpoint:
            checkpoint(gm, level=1)
        if args.fsdp:
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            mesh = init_device_mesh(device.type, (world,))
            for block in units(gm, 1):
                fully_shard(gm.get_submodule(block), mesh=mesh)
            model = fully_shard(gm, mesh=mesh)
        else:
            model = torch.nn.parallel.DistributedDataParallel(gm)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        losses = []
        data = batches(args.batch, args.seq, 65, seed=1)
        for step in range(args.steps):
            x, y = (t.chunk(world)[rank].to(device) for t in next(data))
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            loss.backward()
            opt.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            losses.append(float(mean) / world)
            if rank == 0 and (step % 10 == 0 or step == args.steps - 1):
                print(f"step {step:4d}  loss {losses[-1]:.4f}", flush=True)
        state = gm.state_dict()
        if args.fsdp:  # gather the shards (every rank takes part)
            state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in state.items()}
        if rank == 0 and args.out:
            torch.save(state, args.out)
        dist.barrier()
        return losses if rank == 0 else []
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Compare a compiled module with a hand-written torch reference (values and gradients)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.fx as fx


def assert_matches(
    gm: fx.GraphModule, ref: Callable[..., torch.Tensor], *inputs: torch.Tensor, tol: float = 1e-5
) -> None:
    """``gm(*inputs)`` equals ``ref(params, *inputs)``; so do the gradients of a random projection.

    ``tol`` is both the absolute and the relative tolerance (1e-5: one op in fp32).

    ``params`` maps each state_dict name to a copy of the module's tensor, so
    the reference computes with the same weights through its own graph.
    """
    close = {"atol": tol, "rtol": tol}
    mine = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    theirs = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    params = dict(gm.named_parameters())
    ref_params = {
        k: v.detach().clone().requires_grad_(True)
        for k, v in gm.state_dict(keep_vars=True).items()
        if isinstance(v, torch.nn.Parameter)
    }
    ref_params.update({k: v.clone() for k, v in gm.named_buffers()})
    out = gm(*mine)
    expected = ref(ref_params, *theirs)
    torch.testing.assert_close(out, expected, **close)
    cot = torch.randn_like(out)
    wrt = [t for t in mine if t.requires_grad] + list(params.values())
    ref_wrt = [t for t in theirs if t.requires_grad] + [ref_params[k] for k in params]
    if not wrt:
        return
    got = torch.autograd.grad(out, wrt, cot, allow_unused=True)
    want = torch.autograd.grad(expected, ref_wrt, cot, allow_unused=True)
    for name, a, b in zip([f"input {i}" for i in range(len(wrt) - len(params))] + list(params), got, want, strict=True):
        if a is None or b is None:
            assert a is None and b is None or torch.count_nonzero(a if a is not None else b) == 0, name
            continue
        torch.testing.assert_close(a, b, **close, msg=lambda m, name=name: f"gradient of {name}: {m}")

"""Training helpers for modules from ``Program.to_torch()``: activation checkpointing by unit level.

A hierarchical module (the default, see :mod:`ncdl.compiler.fx.hierarchy`)
has one ``torch.fx.GraphModule`` per circuit instance and ``repeat``
iteration. :func:`checkpoint` makes the ones at a chosen nesting level
recompute their activations in the backward pass (``torch.utils.checkpoint``)
instead of keeping them: memory for time. Module names, ``state_dict()`` and
``named_parameters()`` do not change (the module's own ``forward`` is wrapped
in place, no wrapper module is inserted), so it composes with DDP, FSDP2's
``fully_shard`` and optimizers built before or after.

Example:
    >>> gm = ncdl.architectures.load("gpt").to_torch("GPT")
    >>> checkpoint(gm, level=1)
    ['transformer.h.0', 'transformer.h.1', 'transformer.h.2', 'transformer.h.3']
"""

from __future__ import annotations

from typing import Any

import torch.fx as fx
import torch.utils.checkpoint
from torch import nn

__all__ = ["checkpoint", "units"]


def units(module: nn.Module, level: int = 1) -> list[str]:
    """Names of the GraphModule submodules of ``module`` nested ``level`` deep (1: the outermost ones)."""
    found = []
    for name, sub in module.named_modules():
        if name and isinstance(sub, fx.GraphModule) and _depth(module, name) == level:
            found.append(name)
    return found


def checkpoint(module: nn.Module, level: int = 1, *, names: list[str] | None = None) -> list[str]:
    """Make the units at ``level`` (or the submodules ``names``) checkpoint their activations; return their names.

    Each one's ``forward`` then runs under ``torch.utils.checkpoint.checkpoint``
    (non-reentrant, with the RNG state preserved, so dropout draws the same
    masks when recomputed). Gradients are unchanged. Raises ValueError when
    nothing matches (a ``hierarchy="flat"`` module has no units).
    """
    chosen = list(names) if names is not None else units(module, level)
    if not chosen:
        raise ValueError(f"no submodule at level {level} to checkpoint; lower with hierarchy='instances'")
    for name in chosen:
        sub = module.get_submodule(name)
        if "forward" not in sub.__dict__:  # not wrapped twice
            sub.forward = _Checkpointed(type(sub).forward.__get__(sub))  # type: ignore[method-assign]
    return chosen


class _Checkpointed:
    """A bound ``forward`` run under activation checkpointing."""

    def __init__(self, forward: Any) -> None:
        self.forward = forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return torch.utils.checkpoint.checkpoint(self.forward, *args, use_reentrant=False, **kwargs)


def _depth(root: nn.Module, name: str) -> int:
    parts = name.split(".")
    return sum(isinstance(root.get_submodule(".".join(parts[:i])), fx.GraphModule) for i in range(1, len(parts) + 1))

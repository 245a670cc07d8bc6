"""Flat shapes: torch.nn's view of ncdl's axis-shaped weights.

ncdl keeps a weight's axes apart: ``linear[model -> heads head]`` stores a
weight of shape ``[heads, head, model]`` where ``nn.Linear`` stores
``[heads*head, model]``. Both hold the same numbers in the same order (the
fused wire ``heads head`` is row-major), so one is a reshape of the other.
A shape is a *flattening* of another when it merges runs of adjacent
dimensions and nothing else; only then is a reshape between them exact, and
only then do the backends accept it when loading weights. Unit dimensions
hold no order, so either side may add or drop them: torch.nn keeps a class
token as ``[1, 1, model]`` where ncdl's ``param[one, model]`` is ``[1, model]``.

A Param dict (:mod:`ncdl.ir.graph`) may carry ``flat``: the shape torch.nn
gives the same tensor, when it differs from ``shape``.

Example:
    >>> is_flattening([8, 16], [2, 4, 16])
    True
    >>> is_flattening([16, 8], [2, 4, 16])      # a transpose, not a flattening
    False
    >>> is_flattening([1, 1, 16], [1, 16])      # unit dimensions come and go
    True
    >>> flat_shape({"shape": [2, 4, 16], "flat": [8, 16]})
    [8, 16]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def is_flattening(flat: Sequence[int], shape: Sequence[int]) -> bool:
    """Whether ``flat`` merges runs of adjacent dimensions of ``shape`` (equal shapes included),
    unit dimensions on either side aside."""
    flat = [size for size in flat if size != 1]
    shape = [size for size in shape if size != 1]
    i = 0
    for size in flat:
        if i >= len(shape):
            return False
        product = shape[i]
        i += 1
        while product < size and i < len(shape):
            product *= shape[i]
            i += 1
        if product != size:
            return False
    return i == len(shape)


def flat_shape(spec: dict[str, Any]) -> list[int]:
    """torch.nn's shape of a Param dict's tensor (its ``flat`` when set, else its ``shape``)."""
    return list(spec.get("flat") or spec["shape"])

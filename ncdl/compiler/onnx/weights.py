"""Weights for the ONNX export: taken from a state_dict or freshly initialised.

No torch import: a state_dict's tensors are read by duck typing
(``.detach().cpu().numpy()``), numpy arrays as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ncdl.ir.flat import is_flattening


class WeightSource:
    """Gives the array for each parameter or buffer, by name.

    With a ``state_dict`` every tensor comes from it (a missing key or a
    wrong shape raises one clear line; torch.nn's flat shape of an axis-shaped
    weight is reshaped, :mod:`ncdl.ir.flat`); without, parameters follow their
    ``init`` dict, drawn from a numpy generator seeded with ``seed``.
    """

    def __init__(self, state_dict: Mapping[str, Any] | None, seed: int = 0) -> None:
        self.state_dict = state_dict
        self.rng = np.random.default_rng(seed)

    def get(self, spec: dict[str, Any], dtype: str = "float32") -> np.ndarray:
        """The array for a Param/buffer dict (``name``, ``shape``, ``init``)."""
        name, shape = spec["name"], tuple(int(s) for s in spec["shape"])
        if self.state_dict is None:
            array = fresh(spec.get("init") or {"kind": "zeros"}, shape, self.rng)
        else:
            if name not in self.state_dict:
                raise ValueError(f"state_dict has no entry `{name}` (the model needs shape {list(shape)})")
            array = to_numpy(self.state_dict[name])
            if tuple(array.shape) != shape and is_flattening(array.shape, shape):
                array = array.reshape(shape)  # torch.nn's flat shape of the same numbers
            if tuple(array.shape) != shape:
                raise ValueError(
                    f"state_dict entry `{name}` has shape {list(array.shape)}, the model needs {list(shape)}"
                )
        return np.asarray(array, dtype=dtype)


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (duck-typed) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        try:
            value = value.numpy()
        except TypeError:  # dtypes numpy lacks (bfloat16) go through float32
            value = value.float().numpy()
    return np.asarray(value)


def fresh(init: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A new array drawn as ``init`` says (uniform, normal, zeros, ones, constant)."""
    kind = init.get("kind")
    if kind == "uniform":
        return rng.uniform(float(init["low"]), float(init["high"]), size=shape)
    if kind == "normal":
        return rng.normal(float(init.get("mean", 0.0)), float(init.get("std", 1.0)), size=shape)
    if kind == "zeros":
        return np.zeros(shape)
    if kind == "ones":
        return np.ones(shape)
    if kind == "constant":
        return np.full(shape, float(init["value"]))
    raise ValueError(f"unknown init kind {kind!r}")

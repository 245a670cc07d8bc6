"""Weights for the ONNX export: taken from a state_dict or freshly initialised.

No torch import: a state_dict's tensors are read by duck typing
(``.detach().cpu().numpy()``), numpy arrays as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ncdl.ir.flat import is_flattening

#: How many problems a report on a state_dict that does not fit lists before "and N more".
SHOWN = 8


def check_fits(state_dict: Mapping[str, Any], params: list[dict[str, Any]], buffers: list[dict[str, Any]]) -> None:
    """Raise one ValueError naming every way ``state_dict`` does not fit a model, as torch's strict
    ``load_state_dict`` does: an owning parameter without an entry, an entry of another shape (torch.nn's
    flat shape of the same numbers fits), an entry that is none of the model's parameters or buffers.

    ``params`` holds every parameter, tied ones included: a tied parameter's entry may be present or absent
    (checkpoint files keep one copy of shared tensors). A buffer without an entry is reported when the
    lowering reads it (``num_batches_tracked`` is never read).
    """
    problems: list[str] = []
    specs = {spec["name"]: spec for spec in params + buffers}
    for spec in params:
        if spec["name"] not in state_dict and not spec.get("tied_to"):
            problems.append(f"state_dict has no entry `{spec['name']}` (the model needs shape {_shape(spec)})")
    for name, value in state_dict.items():
        if name not in specs:
            continue
        have, need = tuple(np.shape(value)), tuple(_shape(specs[name]))
        if have != need and not is_flattening(have, need):
            problems.append(f"state_dict entry `{name}` has shape {list(have)}, the model needs {list(need)}")
    unexpected = [name for name in state_dict if name not in specs]
    problems += [f"state_dict entry `{name}` is not a parameter or buffer of the model" for name in unexpected]
    if not problems:
        return
    hint = _prefix_hint(unexpected, specs) or "the names and shapes the model needs are those `ncdl check` lists"
    if len(problems) == 1:
        raise ValueError(f"{problems[0]} ({hint})")
    listed = "\n  ".join(problems[:SHOWN])
    more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    raise ValueError(f"{len(problems)} problems with the state_dict ({hint}):\n  {listed}{more}")


def _shape(spec: dict[str, Any]) -> list[int]:
    return [int(s) for s in spec["shape"]]


def _prefix_hint(unexpected: list[str], specs: Mapping[str, Any]) -> str | None:
    """A hint when the unexpected entries are the model's names under one extra prefix (``bert.`` of a
    checkpoint of ``BertForMaskedLM`` loaded into the model ``Bert``)."""
    prefixes = {name.split(".", 1)[0] + "." for name in unexpected if "." in name}
    for prefix in sorted(prefixes):
        if any(name.startswith(prefix) and name[len(prefix) :] in specs for name in unexpected):
            return (
                f"its entries carry the prefix `{prefix}`: keep those and strip it, "
                f"{{k.removeprefix('{prefix}'): v for k, v in state_dict.items() if k.startswith('{prefix}')}}"
            )
    return None


class WeightSource:
    """Gives the array for each parameter or buffer, by name.

    With a ``state_dict`` (already checked by :func:`check_fits`) every tensor
    comes from it (torch.nn's flat shape of an axis-shaped weight is reshaped,
    :mod:`ncdl.ir.flat`; a missing buffer raises one line); without, parameters follow their
    ``init`` dict, drawn from a numpy generator seeded with ``seed``.
    """

    def __init__(self, state_dict: Mapping[str, Any] | None, seed: int = 0) -> None:
        self.state_dict = state_dict
        self.rng = np.random.default_rng(seed)

    def get(self, spec: dict[str, Any], dtype: str = "float32") -> np.ndarray:
        """The array for a Param/buffer dict (``name``, ``shape``, ``init``)."""
        name, shape = spec["name"], tuple(int(s) for s in spec["shape"])
        if self.state_dict is None or (name not in self.state_dict and spec.get("persistent") is False):
            # a buffer that is not persistent is never saved: its (deterministic) init is its value
            return fresh(spec.get("init") or {"kind": "zeros"}, shape, self.rng, dtype)
        if name not in self.state_dict:  # a buffer (check_fits has reported every missing parameter)
            raise ValueError(f"state_dict has no entry `{name}` (the model needs shape {list(shape)})")
        # the shape fits (check_fits): equal, or torch.nn's flat shape of the same numbers
        array = to_numpy(self.state_dict[name]).reshape(shape)
        return np.asarray(array, dtype=dtype)  # no copy when the state_dict already holds this dtype


#: Values drawn at a time in float64 before they are stored in the weight's own dtype.
CHUNK = 1 << 20


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (duck-typed) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        try:
            value = value.numpy()
        except TypeError:  # dtypes numpy lacks (bfloat16) go through float32
            value = value.float().numpy()
    return np.asarray(value)


def fresh(init: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator, dtype: str = "float64") -> np.ndarray:
    """A new array of ``dtype`` drawn as ``init`` says (uniform, normal, zeros, ones, constant).

    Random values are drawn in float64 chunks of :data:`CHUNK` and stored into
    the ``dtype`` array as they come (the same numbers as one draw: the
    generator's stream does not depend on how it is split), so a float32
    weight never has a float64 copy of its own size.
    """
    kind = init.get("kind")
    if kind == "zeros":
        return np.zeros(shape, dtype=dtype)
    if kind == "ones":
        return np.ones(shape, dtype=dtype)
    if kind == "constant":
        return np.full(shape, float(init["value"]), dtype=dtype)
    if kind == "uniform":
        low, high = float(init["low"]), float(init["high"])

        def draw(n: int) -> np.ndarray:
            return rng.uniform(low, high, size=n)
    elif kind == "normal":
        mean, std = float(init.get("mean", 0.0)), float(init.get("std", 1.0))

        def draw(n: int) -> np.ndarray:
            return rng.normal(mean, std, size=n)
    else:
        raise ValueError(f"unknown init kind {kind!r}")
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, CHUNK):
        flat[start : start + CHUNK] = draw(min(CHUNK, flat.size - start))
    return out

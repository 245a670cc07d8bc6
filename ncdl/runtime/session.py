"""onnxruntime sessions that check inputs against the model's named axes.

A :class:`Session` reads each input's axes from the model: the axis names
ncdl wrote into the metadata (``ncdl.inputs``, ``ncdl.axes``) or, for any
other ONNX model, the dims' ``dim_param`` names. Before running it checks
every input and raises :class:`InputError` with one line naming the input and
the axis, instead of onnxruntime's multi-line error.

Example:
    >>> s = Session("gpt.onnx")
    >>> print(s.signature())
    >>> s.run({"tokens": np.zeros((2, 16), np.int64)})["logits"].shape
    (2, 16, 65)
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ncdl.ir.requirements import BadRequirements, decode, index_inputs
from ncdl.ir.requirements import violation as requirements_violation

__all__ = ["InputError", "ModelLoadError", "RunError", "Session", "TensorSpec"]

_PROTOBUF_LIMIT = 2**31 - 1
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


class InputError(ValueError):
    """An input does not fit the model; the message is one line, for example::

    input `x`: axis model expects 128 at dim 2, got 96
    """


class RunError(RuntimeError):
    """onnxruntime failed on inputs that passed every check (a model from elsewhere, or a bug); one line."""


class ModelLoadError(RuntimeError):
    """The model file cannot be read or is not a valid ONNX model; one line, for example::

    cannot load model `broken.onnx`: not a valid ONNX model (Protobuf parsing failed)
    """


@dataclass(frozen=True)
class Dim:
    """One dim of a model input or output: its axis name and size (an int, or None when free)."""

    axis: str
    size: int | None
    symbol: str | None  # the dim_param: inputs sharing it must agree at run time
    bound: int | None = None

    def describe(self) -> str:
        """``model=128``, ``batch`` or ``seq<=256``."""
        if self.size is not None:
            return f"{self.axis}={self.size}"
        text = self.axis if self.symbol in (None, self.axis) else f"{self.axis} (= {self.symbol})"
        return text + (f"<={self.bound}" if self.bound is not None else "")


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, dtype and its dims."""

    name: str
    dtype: str
    dims: tuple[Dim, ...]

    def describe(self) -> str:
        """``x: float32[batch, seq, model=128]``."""
        return f"{self.name}: {self.dtype}[{', '.join(d.describe() for d in self.dims)}]"


class Session:
    """An onnxruntime session with named-axis input checks.

    Args:
        path_or_model: a path to an ``.onnx`` file, or an ``onnx.ModelProto``
            (or its serialised bytes).
        providers: onnxruntime execution providers (default: CPU).

    Raises:
        ModelLoadError: the file is missing, unreadable or not a valid model.
    """

    def __init__(self, path_or_model: str | os.PathLike[str] | bytes | Any, providers: list[str] | None = None) -> None:
        self._staging: tempfile.TemporaryDirectory[str] | None = None
        if hasattr(path_or_model, "SerializeToString") and path_or_model.ByteSize() > _PROTOBUF_LIMIT:
            # protobuf cannot serialise past 2 GiB: go through a file with external data
            from ncdl.files import save_onnx

            self._staging = tempfile.TemporaryDirectory(prefix="ncdl-session-")
            staged = Path(self._staging.name) / "model.onnx"
            save_onnx(path_or_model, staged)
            path_or_model = staged
        source, label = _model_source(path_or_model)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types here
            raise ModelLoadError(f"cannot load model {label}: not a valid ONNX model ({_first_line(exc)})") from None
        meta = self._session.get_modelmeta().custom_metadata_map
        axes = _json(meta.get("ncdl.axes"), {})
        self.inputs = _specs(self._session.get_inputs(), _json(meta.get("ncdl.inputs"), []), axes)
        self.outputs = _specs(self._session.get_outputs(), _json(meta.get("ncdl.outputs"), []), axes)
        self.metadata: dict[str, str] = dict(meta)
        self._requirements = meta.get("ncdl.requirements", "")
        if self._requirements:
            try:
                bindings, reqs = decode(self._requirements)
                names = {spec.name: len(spec.dims) for spec in self.inputs}
                dims = list(bindings.values()) + [(r.input, r.dim if not r.index else 0) for r in reqs if r.input]
                for name, dim in dims:
                    if name not in names or dim is None or (dim >= names[name] and dim > 0):
                        raise BadRequirements(
                            f"the model's ncdl.requirements metadata names no dim {dim} of input `{name}`"
                        )
            except BadRequirements as exc:
                raise ModelLoadError(f"cannot load model {label}: {exc}") from None

    @property
    def input_names(self) -> list[str]:
        """The model's input names, in order."""
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The model's output names, in order."""
        return [spec.name for spec in self.outputs]

    def signature(self) -> str:
        """The inputs and outputs as readable text, one per line."""
        lines = ["inputs:"]
        lines += [f"  {spec.describe()}" for spec in self.inputs]
        lines.append("outputs:")
        lines += [f"  {spec.describe()}" for spec in self.outputs]
        return "\n".join(lines)

    def check(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Validate ``inputs`` (see :meth:`run`); return them as numpy arrays."""
        names = self.input_names
        for name in inputs:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else f"; the model's inputs are: {', '.join(names)}"
                raise InputError(f"unknown input `{name}`{hint}")
        for name in names:
            if name not in inputs:
                raise InputError(f"missing input `{name}`; the model's inputs are: {', '.join(names)}")
        arrays: dict[str, np.ndarray] = {}
        seen: dict[str, tuple[str, int, str, int]] = {}  # symbol -> (input, dim, axis, size)
        for spec in self.inputs:
            array = np.asarray(inputs[spec.name])
            if array.dtype != np.dtype(spec.dtype):
                raise InputError(
                    f"input `{spec.name}`: expected dtype {spec.dtype}, got {array.dtype}; "
                    f"convert it with .astype('{spec.dtype}')"
                )
            if array.ndim != len(spec.dims):
                axes = ", ".join(d.axis for d in spec.dims)
                raise InputError(
                    f"input `{spec.name}`: expected {len(spec.dims)} axes [{axes}], got {array.ndim} (shape {list(array.shape)})"
                )
            for i, (dim, got) in enumerate(zip(spec.dims, array.shape, strict=True)):
                _check_dim(spec.name, i, dim, int(got), seen)
            arrays[spec.name] = array
        if self._requirements:
            ranges = {
                name: (int(arrays[name].min()), int(arrays[name].max()))
                for name in index_inputs(self._requirements)
                if name in arrays and arrays[name].size
            }
            problem = requirements_violation(self._requirements, {n: a.shape for n, a in arrays.items()}, ranges)
            if problem is not None:
                raise InputError(f"input {problem}")
        return arrays

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Check ``inputs`` (names, dtypes, ranks, axis sizes), run, return outputs by name.

        Raises:
            InputError: a missing or unknown input, a wrong dtype or rank, a
                wrong size of a fixed axis, a free axis over its bound or under 1,
                one free axis with different sizes in two places, or sizes that
                break a requirement of the model's boxes (``ncdl.requirements``:
                a split that must divide, a conv output that must be at least 1).
        """
        arrays = self.check(inputs)
        names = self.output_names
        try:
            results = self._session.run(names, arrays)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise RunError(f"onnxruntime failed: {_first_line(exc)}") from None
        return dict(zip(names, results, strict=True))


def _check_dim(name: str, i: int, dim: Dim, got: int, seen: dict[str, tuple[str, int, str, int]]) -> None:
    if dim.size is not None:
        if got != dim.size:
            raise InputError(f"input `{name}`: axis {dim.axis} expects {dim.size} at dim {i}, got {got}")
        return
    if dim.bound is not None and got > dim.bound:
        raise InputError(f"input `{name}`: axis {dim.axis} is at most {dim.bound}, got {got} at dim {i}")

    if dim.symbol is None:
        return
    if dim.symbol in seen:
        first, first_dim, first_axis, size = seen[dim.symbol]
        if got != size:
            here = dim.axis if dim.axis == dim.symbol else f"{dim.axis} (= {dim.symbol})"
            raise InputError(
                f"input `{name}`: axis {here} is {got} at dim {i}, but input `{first}` has {first_axis} = {size} at dim {first_dim}"
            )
    else:
        seen[dim.symbol] = (name, i, dim.axis, got)


def _model_source(path_or_model: Any) -> tuple[str | bytes, str]:
    if isinstance(path_or_model, bytes):
        return path_or_model, "<bytes>"
    if hasattr(path_or_model, "SerializeToString"):
        return path_or_model.SerializeToString(), "<ModelProto>"
    path = Path(path_or_model)
    if not path.is_file():
        raise ModelLoadError(f"cannot load model `{path}`: no such file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ModelLoadError(f"cannot load model `{path}`: {exc.strerror or exc}") from None
    return str(path), f"`{path}`"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # onnxruntime prefixes "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : " before its reason
    text = text.splitlines()[0] if text else type(exc).__name__
    text = text.rsplit(" : ", 1)[-1].strip()
    # and "Load model from <path> failed:" repeats the path the message already names
    if text.startswith("Load model from ") and " failed:" in text:
        text = text.split(" failed:", 1)[1].strip()
    return text.rstrip(".") or type(exc).__name__


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _specs(args: list[Any], declared: list[dict[str, Any]], axes: dict[str, Any]) -> list[TensorSpec]:
    """Input/output specs from onnxruntime's NodeArgs, named by ncdl's metadata where present."""
    # the metadata is read defensively: a damaged or crafted entry falls back to the ONNX dims
    rows = declared if isinstance(declared, list) else []
    by_name = {d.get("name"): d for d in rows if isinstance(d, dict) and isinstance(d.get("name"), str)}
    table = axes if isinstance(axes, dict) else {}
    specs = []
    for arg in args:
        names = by_name.get(arg.name, {}).get("axes")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            names = []
        dims = []
        for i, size in enumerate(arg.shape):
            axis = names[i] if i < len(names) else (size if isinstance(size, str) else f"dim{i}")
            info = table.get(axis)
            bound = info.get("bound") if isinstance(info, dict) else None
            if not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
                bound = None
            if isinstance(size, int):
                dims.append(Dim(axis, size, None))
            else:
                dims.append(Dim(axis, None, size if isinstance(size, str) else None, bound))
        specs.append(TensorSpec(arg.name, _ORT_DTYPES.get(arg.type, arg.type), tuple(dims)))
    return specs

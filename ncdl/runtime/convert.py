"""Quantised and half-precision ONNX models, made by onnxruntime's own tools.

* :func:`quantize_int8`: dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``)
  of the matrix products: int8 weights, activations quantised at run time
  (``MatMulInteger``). The graph is first put through onnxruntime's
  quantisation pre-processing (``quant_pre_process``: its graph optimiser
  folds each weight's transpose into the initializer, so the quantiser sees
  constant weights). Only ``MatMul``/``Gemm`` are quantised: the tool maps the
  standard ``Attention`` operator (opset 23) to its own ``QAttention``, whose
  attributes differ, and leaves a model onnxruntime refuses.
* :func:`to_float16`: every float tensor, weights, inputs and outputs, as
  float16 (``onnxruntime.transformers.float16``). bfloat16 is refused:
  onnxruntime's CPU provider has no bfloat16 ``MatMul`` or ``Add``.

Each records what was done in the metadata (``ncdl.quantize``, ``ncdl.dtype``);
the rest of the metadata (axes, decoding layout) is kept.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

__all__ = ["DTYPES", "QUANTIZE", "quantize_int8", "to_dtype", "to_float16"]

#: What ``--quantize`` offers, and ``--dtype``.
QUANTIZE = ("int8",)
DTYPES = ("float32", "float16", "bfloat16")


def _with_meta(model: onnx.ModelProto, **extra: str) -> onnx.ModelProto:
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update(extra)
    del model.metadata_props[:]
    helper.set_model_props(model, meta)
    return model


def quantize_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with int8 weights for every matrix product (see module doc)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="ncdl-quantize-") as folder:
        src, pre, out = (Path(folder) / name for name in ("model.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(pre, out, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        quantized = onnx.load(out)
    note = "int8 dynamic (onnxruntime.quantization.quantize_dynamic: MatMul/Gemm weights QInt8, per tensor)"
    return _with_meta(quantized, **{"ncdl.quantize": note})


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` computing in float16, its float inputs and outputs float16 too (see module doc)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(model, keep_io_types=False, disable_shape_infer=True)
    return _with_meta(half, **{"ncdl.dtype": "float16"})


def to_dtype(model: onnx.ModelProto, dtype: str) -> onnx.ModelProto:
    """``model`` in ``dtype`` (one of :data:`DTYPES`).

    Raises:
        ValueError: an unknown dtype, or bfloat16 (which onnxruntime cannot run on the CPU).
    """
    if dtype == "float32":
        return model
    if dtype == "float16":
        return to_float16(model)
    if dtype == "bfloat16":
        import onnxruntime as ort

        raise ValueError(
            f"bfloat16 is not offered: onnxruntime {ort.__version__}'s CPU provider has no bfloat16 MatMul or Add; "
            "use --dtype float16"
        )
    raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")


def describe(meta: dict[str, Any]) -> str:
    """``int8``, ``float16`` or ``float32``: what an exported model's metadata says it computes in."""
    if meta.get("ncdl.quantize"):
        return "int8"
    return str(meta.get("ncdl.dtype", "float32"))

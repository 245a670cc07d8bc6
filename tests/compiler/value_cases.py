"""Small IR graphs for the boxes of positions, casts, booleans, masks and activations, each with a torch reference.

Both backends' tests run every case: ``test_fx_ops.py`` against the compiled
torch module, ``test_onnx_ops.py`` in onnxruntime at two opsets. A case builds
its graph with :class:`irbuild.IRBuilder` (axes ``batch`` and ``seq`` free,
``d`` = 3), makes its inputs for given sizes of the free axes, and computes
the expected output with plain torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from irbuild import IRBuilder

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Case:
    """A graph builder, its inputs at sizes (batch, seq), and the torch reference of its output ``y``."""

    build: Callable[[IRBuilder], None]
    inputs: Callable[[np.random.Generator, int, int], Inputs]
    ref: Callable[..., torch.Tensor]


def builder() -> IRBuilder:
    """Axes ``batch``, ``seq`` (free, bound 16), ``key`` (an alias of seq) and ``d`` = 3."""
    b = IRBuilder()
    b.axis("batch")
    b.axis("seq", bound=16)
    b.axis("key", alias="seq")
    b.axis("d", 3)
    return b


def _x(rng: np.random.Generator, n: int, s: int) -> Inputs:
    return {"x": (rng.standard_normal((n, s, 3)) * 4).astype(np.float32)}


def _xy(rng: np.random.Generator, n: int, s: int) -> Inputs:
    return {**_x(rng, n, s), "w": (rng.standard_normal((3, s)) * 4).astype(np.float32)}


def _rounded(rng: np.random.Generator, n: int, s: int) -> Inputs:
    """Small integers, so that equal pairs occur."""
    return {"x": rng.integers(-2, 3, (n, s, 3)).astype(np.float32), "w": rng.integers(-2, 3, (3, s)).astype(np.float32)}


def _rounded_x(rng: np.random.Generator, n: int, s: int) -> Inputs:
    return {"x": _rounded(rng, n, s)["x"]}


def _unary(op: str, **attrs: object) -> Callable[[IRBuilder], None]:
    def build(b: IRBuilder) -> None:
        x = b.input("x", ["batch", "seq", "d"])
        b.output(b.op(op, [x], ["batch", "seq", "d"], **attrs))

    return build


def _pair(op: str, dtype: str = "float32", const: float | None = None, const_left: bool = False) -> Callable:
    """``op`` of x [batch, seq, d] with y [d, seq] (or a constant), as a float output."""

    def build(b: IRBuilder) -> None:
        x = b.input("x", ["batch", "seq", "d"])
        ins = [x] if const is not None else [x, b.input("w", ["d", "seq"])]
        out = b.op(op, ins, ["batch", "seq", "d"], dtype=dtype, const=const, const_left=const_left)
        if dtype != "float32":
            out = b.op("cast", [out], ["batch", "seq", "d"])
        b.output(out)

    return build


def _logic(b: IRBuilder) -> None:
    """``not (x > 0) or (x < y) and (y >= 1)``, outer over the axes of x and y."""
    x = b.input("x", ["batch", "seq", "d"])
    y = b.input("w", ["d", "seq"])
    axes = ["batch", "seq", "d"]
    pos = b.op("gt", [x], axes, dtype="bool", const=0.0, const_left=False)
    lt = b.op("lt", [x, y], axes, dtype="bool", const=None, const_left=False)
    big = b.op("ge", [y], ["d", "seq"], dtype="bool", const=1.0, const_left=False)
    both = b.op("and", [lt, big], axes, dtype="bool")
    either = b.op("or", [b.op("not", [pos], axes, dtype="bool"), both], axes, dtype="bool")
    b.output(b.op("cast", [either], axes))


def _where(then: float | None, otherwise: float | None) -> Callable[[IRBuilder], None]:
    """where(y > 0, x or a constant, y or a constant); without x the result has y's axes."""

    def build(b: IRBuilder) -> None:
        x = b.input("x", ["batch", "seq", "d"])
        y = b.input("w", ["d", "seq"])
        cond = b.op("gt", [y], ["d", "seq"], dtype="bool", const=0.0, const_left=False)
        branches = [v for v, c in ((x, then), (y, otherwise)) if c is None]
        axes = ["batch", "seq", "d"] if then is None else ["d", "seq"]
        b.output(b.op("where", [cond, *branches], axes, then=then, otherwise=otherwise))

    return build


def _where_ref(then: float | None, otherwise: float | None) -> Callable[..., torch.Tensor]:
    def ref(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if then is not None:
            return torch.where(y > 0, then, y if otherwise is None else otherwise)
        return torch.where(y.T > 0, x, y.T if otherwise is None else otherwise)

    return ref


def _mask(b: IRBuilder) -> None:
    """A padding mask over keys and a sliding window over (seq, key), filled with -1e4 and -inf."""
    s = b.input("s", ["batch", "seq", "key"])
    keep = b.input("keep", ["batch", "key"], dtype="bool")
    masked = b.op("mask", [s, keep], ["batch", "seq", "key"], axes=["key"], value=-1e4)
    q = b.op("positions", [], ["seq"], dtype="int64", axis="seq")
    k = b.op("positions", [], ["key"], dtype="int64", axis="key")
    gap = b.op("sub", [q, k], ["seq", "key"], dtype="int64", const=None, const_left=False)
    near = b.op("lt", [gap], ["seq", "key"], dtype="bool", const=2.0, const_left=False)
    b.output(b.op("mask", [masked, near], ["batch", "seq", "key"], axes=["seq", "key"]))


def _mask_inputs(rng: np.random.Generator, n: int, s: int) -> Inputs:
    keep = rng.random((n, s)) > 0.3
    keep[:, 0] = True
    return {"s": rng.standard_normal((n, s, s)).astype(np.float32), "keep": keep}


def _mask_ref(s: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    n = s.shape[1]
    i = torch.arange(n)
    window = (i[:, None] - i[None, :]) < 2
    return s.masked_fill(~keep[:, None, :], -1e4).masked_fill(~window, float("-inf"))


def _positions(b: IRBuilder) -> None:
    """Rotary-style angles from positions shifted by a per-batch offset: cos((start + i) * 0.5 + x)."""
    x = b.input("x", ["batch", "seq", "d"])
    start = b.input("start", ["batch"], dtype="int64", of="seq")
    p = b.op("positions", [start], ["batch", "seq"], dtype="int64", axis="seq")
    twice = b.op("mul", [p], ["batch", "seq"], dtype="int64", const=2.0, const_left=False)
    angle = b.op("div", [twice], ["batch", "seq"], const=4.0, const_left=False)
    b.output(
        b.op(
            "cos", [b.op("add", [x, angle], ["batch", "seq", "d"], const=None, const_left=False)], ["batch", "seq", "d"]
        )
    )


def _positions_inputs(rng: np.random.Generator, n: int, s: int) -> Inputs:
    return {**_x(rng, n, s), "start": rng.integers(0, 100, n).astype(np.int64)}


def _positions_ref(x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    p = start[:, None] + torch.arange(x.shape[1])
    return torch.cos(x + (p * 2 / 4.0)[..., None])


def _casts(b: IRBuilder) -> None:
    """int(x) truncates toward zero; float() of it, then floor of x / 2 added."""
    x = b.input("x", ["batch", "seq", "d"])
    axes = ["batch", "seq", "d"]
    i = b.op("cast", [x], axes, dtype="int64")
    back = b.op("cast", [i], axes)
    half = b.op("floor", [b.op("div", [x], axes, const=2.0, const_left=False)], axes)
    b.output(b.op("add", [back, half], axes, const=None, const_left=False))


CASES: dict[str, Case] = {
    **{
        op: Case(_unary(op), _x, fn)
        for op, fn in {
            "sin": torch.sin,
            "cos": torch.cos,
            "floor": torch.floor,
            "softplus": F.softplus,
            "hardswish": F.hardswish,
            "hardsigmoid": F.hardsigmoid,
            "relu6": F.relu6,
        }.items()
    },
    "clamp_both": Case(_unary("clamp", min=-1.0, max=2.0), _x, lambda x: x.clamp(-1.0, 2.0)),
    "clamp_min": Case(_unary("clamp", min=0.5), _x, lambda x: x.clamp(min=0.5)),
    "clamp_max": Case(_unary("clamp", max=0.5), _x, lambda x: x.clamp(max=0.5)),
    "minimum": Case(_pair("minimum"), _xy, lambda x, y: torch.minimum(x, y.T)),
    "maximum": Case(_pair("maximum"), _xy, lambda x, y: torch.maximum(x, y.T)),
    "maximum_const": Case(_pair("maximum", const=0.5), _x, lambda x: x.clamp(min=0.5)),
    "minimum_const_left": Case(_pair("minimum", const=-0.5, const_left=True), _x, lambda x: x.clamp(max=-0.5)),
    **{
        op: Case(_pair(op, "bool"), _rounded, lambda x, y, fn=fn: fn(x, y.T).float())
        for op, fn in {
            "lt": torch.lt,
            "le": torch.le,
            "gt": torch.gt,
            "ge": torch.ge,
            "eq": torch.eq,
            "ne": torch.ne,
        }.items()
    },
    "le_const_left": Case(_pair("le", "bool", 1.0, True), _x, lambda x: (1.0 <= x).float()),
    "eq_const": Case(_pair("eq", "bool", 1.0), _rounded_x, lambda x: (x == 1.0).float()),
    "logic": Case(_logic, _xy, lambda x, y: ((~(x > 0)) | ((x < y.T) & (y.T >= 1))).float()),
    "where_tensors": Case(_where(None, None), _xy, _where_ref(None, None)),
    "where_then_const": Case(_where(2.0, None), _xy, _where_ref(2.0, None)),
    "where_else_const": Case(_where(None, float("-inf")), _xy, _where_ref(None, float("-inf"))),
    "mask": Case(_mask, _mask_inputs, _mask_ref),
    "positions": Case(_positions, _positions_inputs, _positions_ref),
    "casts": Case(_casts, _x, lambda x: x.trunc() + torch.floor(x / 2.0)),
}


def _layout(op: str, out: list[str], **attrs: object) -> Callable[[IRBuilder], None]:
    """One layout box on x [batch, seq, d]; a new axis in ``out`` is declared by the case (``part``, ``wide``)."""

    def build(b: IRBuilder) -> None:
        x = b.input("x", ["batch", "seq", "d"])
        b.output(b.op(op, [x], out, **attrs))

    return build


def _reflect(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """Reflection padding spelt with indices (no edge repeat), independent of F.pad."""
    n = x.shape[dim]
    index = [abs(i) if i < n else 2 * (n - 1) - i for i in range(-before, n + after)]
    return x.index_select(dim, torch.tensor(index))


def _replicate(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    n = x.shape[dim]
    return x.index_select(dim, torch.tensor([min(max(i, 0), n - 1) for i in range(-before, n + after)]))


#: Layout cases: (build, reference, new axes as name -> size in terms of seq, or an int).
LAYOUT: dict[str, tuple[Callable[[IRBuilder], None], Callable[..., torch.Tensor]]] = {
    "slice_free_axis": (
        _layout("slice", ["batch", "part", "d"], axis="seq", into="part", start=1, stop=-1, step=2),
        lambda x: x[:, 1:-1:2],
    ),
    "slice_fixed_axis": (
        _layout("slice", ["batch", "seq", "two"], axis="d", into="two", start=-2, stop=None, step=1),
        lambda x: x[..., -2:],
    ),
    "flip": (_layout("flip", ["batch", "seq", "d"], axes=["seq", "d"]), lambda x: x.flip(1, 2)),
    "roll_free": (_layout("roll", ["batch", "seq", "d"], axis="seq", shift=2), lambda x: x.roll(2, 1)),
    "roll_back": (_layout("roll", ["batch", "seq", "d"], axis="seq", shift=-3), lambda x: x.roll(-3, 1)),
    "roll_fixed": (_layout("roll", ["batch", "seq", "d"], axis="d", shift=4), lambda x: x.roll(4, 2)),
    "pad_constant": (
        _layout("pad", ["batch", "wide", "d"], axis="seq", into="wide", before=2, after=1, value=-1.5),
        lambda x: torch.cat([torch.full_like(x[:, :2], -1.5), x, torch.full_like(x[:, :1], -1.5)], 1),
    ),
    "pad_reflect": (
        _layout("pad", ["batch", "wide", "d"], axis="seq", into="wide", before=2, after=1, mode="reflect"),
        lambda x: _reflect(x, 1, 2, 1),
    ),
    "pad_replicate_middle": (
        _layout("pad", ["batch", "seq", "d5"], axis="d", into="d5", before=0, after=2, mode="replicate"),
        lambda x: _replicate(x, 2, 0, 2),
    ),
}


def layout_builder() -> IRBuilder:
    """:func:`builder` plus the new axes the layout cases produce."""
    from ncdl.ir.sizes import Size

    b = builder()
    seq = Size.symbol("seq")
    b.axis("part", (seq - 2 + 1) // 2)
    b.axis("two", 2)
    b.axis("wide", seq + 3)
    b.axis("d5", 5)
    return b

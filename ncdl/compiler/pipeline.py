"""What runs between the checked IR and each backend: the passes, and the ONNX opset policy.

Passes are IR -> IR functions that copy the graph and add *marks* (node
attributes beside ``attrs``, documented in :data:`ncdl.ir.ops.MARKS`); the
ops are unchanged, so a backend that ignores a mark computes the same thing.
Each backend runs its list through :func:`run_passes` and lowers what comes
out. The attention chains are matched once, by :data:`ATTENTION`; both
backends consume its marks (torch: one SDPA call; ONNX: one ``Attention``).

Example:
    >>> g = run_passes(program.graph(), FX_PASSES)
    >>> [p.name for p in onnx_passes(17)]
    []
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

from ncdl.compiler.passes.attention import fuse_attention
from ncdl.compiler.passes.inplace import mark_inplace
from ncdl.compiler.passes.kv_cache import mark_kv_cache
from ncdl.compiler.passes.linear_siblings import fuse_sibling_linears
from ncdl.compiler.passes.route_experts import route_experts
from ncdl.ir import OPS, IRError, verify


@dataclass(frozen=True)
class Pass:
    """One IR -> IR pass: its name, its function and the marks it adds (keys of :data:`ncdl.ir.ops.MARKS`)."""

    name: str
    run: Callable[[nx.MultiDiGraph], nx.MultiDiGraph]
    marks: tuple[str, ...]


# the passes -----------------------------------------------------------------------------
ATTENTION = Pass("fuse_attention", fuse_attention, ("fused", "fused_into"))  # q·k → scale/causal → softmax → ·v
SIBLING_LINEARS = Pass("fuse_sibling_linears", fuse_sibling_linears, ("siblings", "fused_into"))  # q/k/v as one
ROUTE_EXPERTS = Pass("route_experts", route_experts, ("fused", "fused_into"))  # each expert on its rows only
INPLACE = Pass("mark_inplace", mark_inplace, ("inplace",))  # relu or residual add over a fresh result
KV_CACHE = Pass("mark_kv_cache", mark_kv_cache, ("kv_cache",))  # a decoding step's cache append, done in place

#: The torch.fx backend's passes, in order (`fuse_sibling_linears` only with `lower_fx(fuse_linears=True)`).
FX_PASSES: tuple[Pass, ...] = (ATTENTION, SIBLING_LINEARS, ROUTE_EXPERTS, INPLACE, KV_CACHE)

# the ONNX opset policy ------------------------------------------------------------------
#: The opsets the ONNX backend writes, and the one it writes unless told.
OPSET_MIN, OPSET_MAX, OPSET_DEFAULT = 17, 23, 23
#: The opset from which an op lowers to one native ONNX operator (below it, the lowering decomposes it):
#: every op's ``native_opset`` from the registry, and the fused attention chain (``Attention``).
NATIVE_OPSET: dict[str, int] = {
    **{name: op.native_opset for name, op in OPS.items() if op.native_opset is not None},
    "attention": 23,
}
#: ``ReduceMean``/``ReduceMax`` take their axes as an input (not an attribute) from this opset.
REDUCE_AXES_INPUT_OPSET = 18


def check_opset(opset: int) -> None:
    """Raise ValueError unless the ONNX backend writes ``opset``."""
    if not OPSET_MIN <= opset <= OPSET_MAX:
        raise ValueError(f"opset {opset} is not supported; choose {OPSET_MIN} to {OPSET_MAX}")


def is_native(op: str, opset: int) -> bool:
    """Whether ``op`` (or ``"attention"``) lowers to its one native ONNX operator at ``opset``."""
    return op in NATIVE_OPSET and opset >= NATIVE_OPSET[op]


def onnx_passes(opset: int) -> tuple[Pass, ...]:
    """The ONNX backend's passes at ``opset``: the attention match (and the decoding cache's, which feeds
    ``Attention``'s own past inputs) only where ``Attention`` exists."""
    return (ATTENTION, KV_CACHE) if is_native("attention", opset) else ()


# running them ---------------------------------------------------------------------------
#: When true, :func:`run_passes` verifies the IR after every pass (the test suite turns it on).
VERIFY_EACH = False


def run_passes(g: nx.MultiDiGraph, passes: Sequence[Pass], verify_each: bool | None = None) -> nx.MultiDiGraph:
    """``g`` after each of ``passes`` in turn.

    With ``verify_each`` (default: :data:`VERIFY_EACH`) the IR is verified
    after every pass; a violation raises :class:`~ncdl.ir.IRError` naming the
    passes that ran, e.g. ``after passes fuse_attention, fuse_sibling_linears:
    n4 (linear): ...``.
    """
    check = VERIFY_EACH if verify_each is None else verify_each
    done: list[str] = []
    for p in passes:
        g = p.run(g)
        done.append(p.name)
        if check:
            try:
                verify(g)
            except IRError as exc:
                raise IRError(f"after passes {', '.join(done)}: {exc}") from None
    return g

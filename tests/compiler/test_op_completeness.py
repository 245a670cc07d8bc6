"""Every op of the registry is complete: a torch lowering, an ONNX lowering at every supported opset
(native or a declared decomposition), a stats (FLOPs) rule and a diagram glyph.

:func:`missing_pieces` says what an op lacks; the parametrised test runs it on
every op of :data:`ncdl.ir.OPS`, and the tests below it show that it notices
when a piece is taken away.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import ncdl.compiler.diagram as diagram
from ncdl.compiler.fx import table as fx_table
from ncdl.compiler.onnx import table as onnx_table
from ncdl.compiler.pipeline import OPSET_MAX, OPSET_MIN
from ncdl.ir import OPS, OpDef
from ncdl.ir.ops import GLYPHS, REQUIRED, Attr, Cost
from ncdl.ir.sizes import Size


def _sample(attr: Attr) -> Any:
    """A value of the attribute's kind, over the sample axes ``a``/``b`` (its default when it has one)."""
    if attr.default is not REQUIRED:
        return attr.default
    samples = {
        "axis": "a",
        "axis?": "a",
        "axes": ["a"],
        "pairs": [["a", "b"]],
        "map": {"a": "b"},
        "int": 1,
        "ints": [1],
        "float": 1.0,
        "float?": 1.0,
        "bool": False,
        "str": attr.choices[0] if attr.choices else "x",
    }
    return samples[attr.kind]


def _sample_cost(op: OpDef) -> Cost:
    attrs = {key: _sample(attr) for key, attr in op.attrs.items()}
    inputs = [["a", "b"]] * op.arity[0]
    return Cost(attrs, ["a", "b"], inputs, lambda axis: Size.const(2))


def missing_pieces(op: OpDef) -> list[str]:
    """What ``op`` lacks, as short phrases (empty when it is complete)."""
    missing = []
    if op.name not in fx_table.RULES:
        missing.append("torch lowering")
    span = onnx_table.opset_range(op.name)
    if span is None:
        missing.append("ONNX lowering")
    elif span != (OPSET_MIN, OPSET_MAX):
        missing.append(f"ONNX lowering at opsets {OPSET_MIN}..{span[0] - 1} (native from {span[0]}, no decomposition)")
    flops = op.flops(_sample_cost(op)) if callable(op.flops) else None
    if not isinstance(flops, Size):
        missing.append("stats rule")
    drawings = getattr(diagram, "GLYPH_DRAWINGS", GLYPHS)
    if op.glyph not in GLYPHS or op.glyph not in drawings:
        missing.append("diagram glyph")
    return missing


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_is_complete(name: str) -> None:
    assert missing_pieces(OPS[name]) == []


def test_lowering_tables_hold_only_registry_ops() -> None:
    assert set(fx_table.RULES) == set(OPS)
    assert set(onnx_table.RULES) == set(OPS)
    # every chain ONNX fuses torch fuses too; a routed moe is torch-only (ONNX runs no route_experts pass)
    assert set(fx_table.FUSED) == set(onnx_table.FUSED) | {"moe"}


# the check notices a missing piece ---------------------------------------------------------------
def _without(table: dict[str, Any], op: str) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k != op}


def test_a_missing_torch_lowering_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fx_table, "RULES", _without(fx_table.RULES, "softmax"))
    assert missing_pieces(OPS["softmax"]) == ["torch lowering"]


def test_a_missing_onnx_lowering_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_table, "RULES", _without(onnx_table.RULES, "select"))
    assert missing_pieces(OPS["select"]) == ["ONNX lowering"]


def test_a_native_op_without_a_decomposition_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_table, "DECOMPOSED", onnx_table.DECOMPOSED - {"gelu"})
    native = OPS["gelu"].native_opset
    assert missing_pieces(OPS["gelu"]) == [
        f"ONNX lowering at opsets {OPSET_MIN}..{native - 1} (native from {native}, no decomposition)"
    ]


def test_a_missing_stats_rule_is_reported() -> None:
    assert missing_pieces(dataclasses.replace(OPS["linear"], flops=None)) == ["stats rule"]


def test_a_missing_glyph_is_reported() -> None:
    assert missing_pieces(dataclasses.replace(OPS["relu"], glyph="sparkle")) == ["diagram glyph"]

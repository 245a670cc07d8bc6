"""The pass pipeline (compiler/pipeline.py): marks, verification between passes, the opset policy."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest
from irbuild import IRBuilder

import ncdl.compiler.fx as fx_backend
import ncdl.compiler.onnx as onnx_backend
from ncdl.compiler import pipeline
from ncdl.compiler.fx import lower_fx
from ncdl.compiler.onnx import lower_onnx
from ncdl.compiler.pipeline import (
    ATTENTION,
    FX_PASSES,
    KV_CACHE,
    NATIVE_OPSET,
    OPSET_MAX,
    OPSET_MIN,
    SIBLING_LINEARS,
    Pass,
    check_opset,
    onnx_passes,
    run_passes,
)
from ncdl.ir import OPS, IRError
from ncdl.ir.ops import MARKS

ALL_PASSES = {p.name: p for p in FX_PASSES + onnx_passes(OPSET_MAX)}


def _break_eps(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A faulty pass: writes a string where layernorm's eps must be a number."""
    out = g.copy()
    for _node, data in out.nodes(data=True):
        if data["op"] == "layernorm":
            data["attrs"] = {**data["attrs"], "eps": "small"}
    return out


BREAK_EPS = Pass("break_eps", _break_eps, ())


def _normed() -> nx.MultiDiGraph:
    b = IRBuilder()
    b.axes("batch", model=4)
    x = b.input("x", ["batch", "model"])
    b.output(b.op("layernorm", [x], ["batch", "model"], axes=["model"]))
    return b.graph()


def _attention() -> nx.MultiDiGraph:
    b = IRBuilder()
    b.axes("batch", seq=3, key=3, head=4)
    q = b.input("q", ["batch", "seq", "head"])
    k = b.input("k", ["batch", "key", "head"])
    v = b.input("v", ["batch", "key", "head"])
    s = b.op("contract", [q, k], ["batch", "seq", "key"], over=["head"])
    p = b.op("softmax", [s], ["batch", "seq", "key"], axis="key")
    b.output(b.op("contract", [p, v], ["batch", "seq", "head"], over=["key"]))
    return b.graph()


def test_a_pass_that_breaks_the_ir_is_named_with_the_passes_before_it() -> None:
    with pytest.raises(IRError) as err:
        run_passes(_normed(), (ATTENTION, SIBLING_LINEARS, BREAK_EPS), verify_each=True)
    assert str(err.value) == (
        "after passes fuse_attention, fuse_sibling_linears, break_eps: n1 (layernorm): attribute 'eps' = 'small': "
        "not a number"
    )


def test_without_verification_the_broken_graph_passes_through() -> None:
    g = run_passes(_normed(), (BREAK_EPS,), verify_each=False)
    assert g.nodes["n1"]["attrs"]["eps"] == "small"


def test_the_test_suite_verifies_after_every_pass_of_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pipeline.VERIFY_EACH  # set by tests/conftest.py
    monkeypatch.setattr(fx_backend, "FX_PASSES", (*FX_PASSES, BREAK_EPS))
    with pytest.raises(
        IRError,
        match=r"^after passes fuse_attention, route_experts, mark_inplace, mark_kv_cache, break_eps: ",
    ):
        lower_fx(_normed())
    with pytest.raises(
        IRError,
        match=r"^after passes fuse_attention, fuse_sibling_linears, route_experts, mark_inplace, mark_kv_cache, break_eps: ",
    ):
        lower_fx(_normed(), fuse_linears=True)


@pytest.mark.parametrize("name", sorted(ALL_PASSES))
def test_each_pass_declares_marks_the_registry_documents(name: str) -> None:
    p = ALL_PASSES[name]
    assert p.marks
    for mark in p.marks:
        assert mark in MARKS
        assert p.name in MARKS[mark][0]


def test_every_documented_mark_is_added_by_a_pipeline_pass() -> None:
    added = {mark for p in ALL_PASSES.values() for mark in p.marks}
    assert added == set(MARKS)


def test_marks_found_by_the_pass_are_what_the_pass_says() -> None:
    g = run_passes(_attention(), (ATTENTION,))
    marked = {key for _node, data in g.nodes(data=True) for key in data if key in MARKS}
    assert marked == set(ATTENTION.marks)


def test_native_opsets_come_from_the_registry_plus_fused_attention() -> None:
    from_registry = {name: op.native_opset for name, op in OPS.items() if op.native_opset is not None}
    assert {k: v for k, v in NATIVE_OPSET.items() if k != "attention"} == from_registry
    assert NATIVE_OPSET["attention"] <= OPSET_MAX


@pytest.mark.parametrize("opset", [OPSET_MIN - 1, OPSET_MAX + 1])
def test_opsets_outside_the_range_are_refused(opset: int) -> None:
    with pytest.raises(ValueError) as err:
        check_opset(opset)
    assert str(err.value) == f"opset {opset} is not supported; choose {OPSET_MIN} to {OPSET_MAX}"


def test_onnx_matches_attention_only_where_attention_is_native() -> None:
    assert onnx_passes(NATIVE_OPSET["attention"] - 1) == ()
    # with Attention comes its past/present inputs: the decoding cache's concats are marked for it
    assert onnx_passes(NATIVE_OPSET["attention"]) == (ATTENTION, KV_CACHE)


def _op_types(model: Any) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_onnx_fuses_attention_from_the_pipeline_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    g = _attention()
    assert _op_types(lower_onnx(g, opset=23)).count("Attention") == 1
    # the ONNX backend does not look for attention itself: without the pass's marks there is none
    monkeypatch.setattr(onnx_backend, "onnx_passes", lambda opset: ())
    assert "Attention" not in _op_types(lower_onnx(g, opset=23))

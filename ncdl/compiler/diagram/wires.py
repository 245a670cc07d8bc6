"""Which wires a box acts on, and which pass it by.

A box *names* the axes its op works on (``linear``'s in and out axes,
``softmax``'s axis, ``contract``'s summed axes); every other axis of its
tensors is broadcast and, in the diagram, passes the box by. Elementwise
ops act on every wire, as the paper draws ReLU between all the wires.
"""

from __future__ import annotations

from typing import Any

from ncdl.ir import ELEMENTWISE

#: Ops that act on every wire of their tensors.
ALL_WIRES = ELEMENTWISE | {"dropout", "transpose", "batchnorm", "input", "output", "param"}


def _spatial(attrs: dict[str, Any]) -> set[str]:
    return {a for pair in attrs.get("spatial", []) for a in pair}


def named_axes(node: dict[str, Any]) -> set[str]:
    """The axes a node's op acts on (inputs and output), from its attributes."""
    op = node.get("op", "")
    attrs = node.get("attrs") or {}
    if op in ALL_WIRES:
        return set(node.get("axes") or [])
    if op == "linear":
        return set(attrs.get("in", [])) | set(attrs.get("out", []))
    if op == "embed":
        return {attrs.get("vocab", "")} | set(attrs.get("out", []))
    if op in ("layernorm", "rmsnorm", "sum", "mean", "max"):
        return set(attrs.get("axes", []))
    if op == "conv":
        return {attrs.get("in", ""), attrs.get("out", "")} | _spatial(attrs)
    if op in ("maxpool", "avgpool", "upsample"):
        return _spatial(attrs)
    if op == "contract":
        return set(attrs.get("over", []))
    if op in ("softmax", "logsoftmax", "select"):
        return {attrs.get("axis", "")}
    if op == "causal":
        return {attrs.get("query", ""), attrs.get("key", "")}
    if op == "rename":
        mapping = attrs.get("map", {})
        return set(mapping) | set(mapping.values())
    if op == "split":
        return {attrs.get("axis", "")} | set(attrs.get("into", []))
    if op in ("merge", "concat"):
        return set(attrs.get("axes", [])) | {attrs.get("into", "")}
    return set(node.get("axes") or [])


def acts_on_some(node: dict[str, Any]) -> bool:
    """True when the op names particular axes (so a folded circuit inherits them)."""
    return node.get("op", "") not in ALL_WIRES or node.get("op") in ("param", "batchnorm")

"""Which wires a box acts on, and which pass it by.

A box *names* the axes its op works on (``linear``'s in and out axes,
``softmax``'s axis, ``contract``'s summed axes); every other axis of its
tensors is broadcast and, in the diagram, passes the box by. Elementwise
ops act on every wire, as the paper draws ReLU between all the wires.
Both facts are the op's registry entry (``OpDef.acts_on`` and
``OpDef.selective`` in :mod:`ncdl.ir.ops`); this module only applies them
to a node.
"""

from __future__ import annotations

from typing import Any

from ncdl.ir import OPS


def named_axes(node: dict[str, Any]) -> set[str]:
    """The axes a node's op acts on (inputs and output), from its attributes."""
    return OPS[node["op"]].acts_on(node["attrs"], node["axes"])


def acts_on_some(node: dict[str, Any]) -> bool:
    """True when the op names particular axes (so a folded circuit inherits them)."""
    return OPS[node["op"]].selective

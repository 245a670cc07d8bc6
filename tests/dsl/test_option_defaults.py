"""A primitive's options that set IR attributes take their defaults from the op registry."""

from __future__ import annotations

import pytest

import ncdl
from ncdl.dsl.primitives import PRIMITIVES
from ncdl.ir.ops import OPS, REQUIRED

#: Primitives whose IR op has another name.
OP_OF = {"conv_transpose": "conv", "topk": "argtopk"}

SHARED = [
    (prim, option)
    for prim, rule in sorted(PRIMITIVES.items())
    for option in sorted(rule.options)
    if option in OPS[OP_OF.get(prim, prim)].attrs and OPS[OP_OF.get(prim, prim)].default(option) is not REQUIRED
]


def test_the_shared_options_are_found() -> None:
    assert ("rmsnorm", "eps") in SHARED and ("layernorm", "eps") in SHARED and ("gelu", "approximate") in SHARED


@pytest.mark.parametrize(("prim", "option"), SHARED)
def test_option_default_is_the_registrys(prim: str, option: str) -> None:
    spec = OPS[OP_OF.get(prim, prim)].attrs[option]
    opt = PRIMITIVES[prim].options[option]
    assert (opt.default, opt.kind, tuple(opt.choices)) == (spec.default, spec.kind, tuple(spec.choices))


def test_an_unset_eps_reaches_the_ir_as_documented() -> None:
    text = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    return rmsnorm[n](layernorm[n](x))\n}\n"
    g = ncdl.loads(text).graph()
    eps = {d["op"]: d["attrs"]["eps"] for _, d in g.nodes(data=True) if "eps" in d["attrs"]}
    assert eps == {"layernorm": OPS["layernorm"].default("eps"), "rmsnorm": OPS["rmsnorm"].default("eps")}

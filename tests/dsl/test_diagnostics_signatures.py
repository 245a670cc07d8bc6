"""The exact text of each diagnostic about signatures and labels: several results, float
and bool parameters, optional arguments, label paths (one small program per mistake, as in
test_diagnostics.py)."""

from __future__ import annotations

import pytest

import ncdl

H = "axis batch, seq, key ~ seq\naxis model = 8\n"
TWO = "circuit Two(x: [model]) -> (a: [model], b: [model]) { return x, relu(x) }\n"
MASKED = "circuit Masked(s: [seq, key], mask: [seq, key]?) -> [seq, key] {\n    return s + mask\n}\n"

CASES: dict[str, tuple[str, str]] = {
    "label_path_is_a_tensor_and_a_module": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    h = x + param[model]() as pos\n"
        "    return linear[model -> model](h) as pos.proj\n}\n",
        "m.ncd:4:13: error[E148]: 'pos' names a tensor and also the module holding 'pos.proj.weight'\n"
        " 4 |     h = x + param[model]() as pos\n   |             ^^^^^^^^^^^^^^^^^^^^^\n"
        "  help: label one of them `as` another path",
    ),
    "several_results_where_one_is_needed": (
        H + TWO + "model M(x: [batch, model]) -> [batch, model] {\n    return relu(Two(x))\n}\n",
        "m.ncd:5:17: error[E190]: 'Two' returns 2 values where one is needed\n 5 |     return relu(Two(x))\n   |                 ^^^^^^\n  help: unpack them first: `a, b = Two(...)`",
    ),
    "unpack_count": (
        H + TWO + "model M(x: [batch, model]) -> [batch, model] {\n    a, b, c = Two(x)\n    return a\n}\n",
        "m.ncd:5:5: error[E191]: 3 names are assigned, but the right side gives 2 values\n 5 |     a, b, c = Two(x)\n   |     ^^^^^^^^^^^^^^^^\n  help: assign as many names as the call returns",
    ),
    "unpack_one_value": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    a, b = relu(x)\n    return a\n}\n",
        "m.ncd:4:5: error[E191]: 2 names are assigned, but the right side gives one value\n 4 |     a, b = relu(x)\n   |     ^^^^^^^^^^^^^^\n  help: assign as many names as the call returns",
    ),
    "model_result_count": (
        H + "model M(x: [batch, model]) -> ([batch, model], [batch, model]) {\n    return x\n}\n",
        "m.ncd:4:5: error[E192]: model 'M' returns one value but declares 2\n 4 |     return x\n   |     ^^^^^^^^\n  help: return as many values as `->` declares: `return a, b` for `-> ([...], [...])`",
    ),
    "circuit_result_count": (
        H
        + "circuit F(x: [model]) -> [model] { return x, x }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:3:36: error[E192]: circuit 'F' returns 2 values but declares 1\n 3 | circuit F(x: [model]) -> [model] { return x, x }\n   |                                    ^^^^^^^^^^^\n  help: return as many values as `->` declares: `return a, b` for `-> ([...], [...])`",
    ),
    "optional_model_input": (
        H + "model M(x: [batch, model], m: [batch, model]?) -> [batch, model] {\n    return x\n}\n",
        "m.ncd:3:28: error[E194]: model input 'm' cannot be optional: a compiled model has fixed inputs\n 3 | model M(x: [batch, model], m: [batch, model]?) -> [batch, model] {\n   |                            ^^^^^^^^^^^^^^^^^^\n  help: make the argument optional in a circuit, and call it from one model with it, one without",
    ),
    "absent_optional_used": (
        H + MASKED + "model M(s: [batch, seq, key]) -> [batch, seq, key] {\n    return Masked(s)\n}\n",
        "m.ncd:4:16: error[E195]: optional argument 'mask' was not given at this call\n 4 |     return s + mask\n   |                ^^^^\n  note: in 'Masked', called at m.ncd:7:12\n  help: use it under `if mask { ... }`",
    ),
    "bool_as_value": (
        H
        + "circuit F[on: bool = true](x: [model]) -> [model] { return x * on }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:3:64: error[E196]: 'on' is a bool parameter; it is not a value\n 3 | circuit F[on: bool = true](x: [model]) -> [model] { return x * on }\n   |                                                                ^^\n  help: use it as a condition (`if on { ... }`) or an option (`bias=on`)",
    ),
    "test_of_a_tensor": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    if x { x = relu(x) }\n    return x\n}\n",
        "m.ncd:4:8: error[E197]: `if x` needs a bool parameter or an optional argument, but 'x' is a tensor value\n 4 |     if x { x = relu(x) }\n   |        ^\n  help: compare integers (`if n > 0`), or declare `name: bool` or an optional argument `name: [...]?`",
    ),
    "bool_param_given_number": (
        H
        + "circuit F[on: bool = true](x: [model]) -> [model] { return x }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[on=1](x)\n}\n",
        "m.ncd:5:17: error[E142]: parameter 'on' of 'F' takes `true` or `false`\n 5 |     return F[on=1](x)\n   |                 ^",
    ),
    "float_param_given_bool": (
        H
        + "circuit F[eps: float = 1e-5](x: [model]) -> [model] { return layernorm[model](x, eps=eps) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[eps=true](x)\n}\n",
        "m.ncd:5:18: error[E142]: parameter 'eps' of 'F' takes a number, not a bool\n 5 |     return F[eps=true](x)\n   |                  ^^^^",
    ),
    "int_param_given_float": (
        H
        + "circuit F[k: int = 2](x: [model]) -> [model] { return x * k }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[k=2.5](x)\n}\n",
        "m.ncd:5:16: error[E142]: parameter 'k' of 'F' takes an integer, not 2.5\n 5 |     return F[k=2.5](x)\n   |                ^^^",
    ),
    "bad_bool_default": (
        H
        + "circuit F[on: bool = 1](x: [model]) -> [model] { return x }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:3:22: error[E142]: the default of parameter 'on' must be `true` or `false`\n 3 | circuit F[on: bool = 1](x: [model]) -> [model] { return x }\n   |                      ^",
    ),
    "missing_float_param": (
        H
        + "circuit F[eps: float](x: [model]) -> [model] { return layernorm[model](x, eps=eps) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:5:12: error[E141]: 'F' needs float parameter 'eps'\n 5 |     return F(x)\n   |            ^\n  help: write F[eps=...]",
    ),
    "too_few_with_optional": (
        H + MASKED + "model M(s: [batch, seq, key]) -> [batch, seq, key] {\n    return Masked()\n}\n",
        "m.ncd:7:12: error[E130]: 'Masked' takes 1 to 2 arguments (s, mask?), got 0\n 7 |     return Masked()\n   |            ^^^^^^^^",
    ),
    "optional_given_twice": (
        H + MASKED + "model M(s: [batch, seq, key]) -> [batch, seq, key] {\n    return Masked(s, s, mask=s)\n}\n",
        "m.ncd:7:25: error[E133]: argument 'mask' is given twice\n 7 |     return Masked(s, s, mask=s)\n   |                         ^^^^^^",
    ),
    "bool_option_from_float": (
        H
        + "circuit F[eps: float = 1e-5](x: [model]) -> [model] { return layernorm[model](x, bias=eps) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:3:87: error[E136]: option 'bias' takes `true` or `false`\n 3 | circuit F[eps: float = 1e-5](x: [model]) -> [model] { return layernorm[model](x, bias=eps) }\n   |                                                                                       ^^^",
    ),
    "result_name_twice": (
        H + "model M(x: [batch, model]) -> (x: [batch, model], y: [batch, model]) {\n    return x, x\n}\n",
        "m.ncd:3:32: error[E105]: 'x' is defined twice in 'M'\n 3 | model M(x: [batch, model]) -> (x: [batch, model], y: [batch, model]) {\n   |                                ^^^^^^^^^^^^^^^^^",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic_text(name: str) -> None:
    source, expected = CASES[name]
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert str(info.value) == expected

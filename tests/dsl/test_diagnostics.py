"""Every diagnostic: the exact text a user sees, at the right line and column.

Each case is a small program with one mistake (a few show how independent
mistakes are reported together). The expected text is the whole output.
"""

from __future__ import annotations

import pytest

import ncdl

H = "axis batch\naxis seq <= 64\naxis model = 8, heads = 2, head = model / heads, hidden = 16, vocab = 10\n"
M = "model M(x: [batch, model]) -> [batch, model] {\n"

CASES: dict[str, tuple[str, str]] = {
    "unknown_axis": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return softmax[hedas](x)\n}\n",
        "m.ncd:5:20: error[E101]: unknown axis 'hedas'\n 5 |     return softmax[hedas](x)\n   |                    ^^^^^\n  help: did you mean 'heads'?",
    ),
    "unknown_value": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return relu(y)\n}\n",
        "m.ncd:5:17: error[E102]: unknown value 'y'\n 5 |     return relu(y)\n   |                 ^\n  help: values are defined with `name = ...` before they are used",
    ),
    "misspelt_value": (
        H + "model M(inputs: [batch, model]) -> [batch, model] {\n    return relu(input)\n}\n",
        "m.ncd:5:17: error[E102]: unknown value 'input'\n 5 |     return relu(input)\n   |                 ^^^^^\n  help: did you mean 'inputs'?",
    ),
    "add_mismatch": (
        H + "model M(x: [batch, model], y: [batch, hidden]) -> [batch, model] {\n    return x + y\n}\n",
        "m.ncd:5:12: error[E120]: axis mismatch in `+`: [batch, model] and [batch, hidden]\n 5 |     return x + y\n   |            ^^^^^\n  help: 'model' only on the left, 'hidden' only on the right; one side's axes must include the other's (rename or project first)",
    ),
    "not_divisible": (
        "axis model = 10, heads = 3, head = model / heads\nmodel M(x: [model]) -> [model] { return x }\n",
        "m.ncd:1:36: error[E106]: size 10 is not divisible by 3\n 1 | axis model = 10, heads = 3, head = model / heads\n   |                                    ^^^^^^^^^^^^^\n  help: sizes must divide exactly; use `//` to round down",
    ),
    "free_weight": (
        H + "model M(x: [batch, seq]) -> [batch, model] {\n    return linear[seq -> model](x)\n}\n",
        "m.ncd:5:18: error[E112]: 'linear' needs a fixed size for axis 'seq' to make its weight, but it is free\n 5 |     return linear[seq -> model](x)\n   |                  ^^^^^^^^^^^^^^\n  help: give it a size in its `axis` declaration",
    ),
    "arity_primitive": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return relu(x, x)\n}\n",
        "m.ncd:5:12: error[E130]: 'relu' takes 1 tensor argument, got 2\n 5 |     return relu(x, x)\n   |            ^^^^^^^^^^",
    ),
    "arity_circuit": (
        H
        + "circuit F(a: [model], b: [model]) -> [model] { return a + b }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:6:12: error[E130]: 'F' takes 2 arguments (a, b), got 1\n 6 |     return F(x)\n   |            ^^^^",
    ),
    "duplicate_circuit": (
        H
        + "circuit F(a: [model]) -> [model] { return a }\ncircuit F(a: [model]) -> [model] { return a }\nmodel M(x: [batch, model]) -> [batch, model] { return F(x) }\n",
        "m.ncd:5:9: error[E105]: circuit 'F' is defined twice\n 5 | circuit F(a: [model]) -> [model] { return a }\n   |         ^\n  help: the first definition is at m.ncd:4:9",
    ),
    "duplicate_arg": (
        H + "model M(x: [batch, model], x: [batch, model]) -> [batch, model] { return x }\n",
        "m.ncd:4:28: error[E105]: 'x' is defined twice in 'M'\n 4 | model M(x: [batch, model], x: [batch, model]) -> [batch, model] { return x }\n   |                            ^^^^^^^^^^^^^^^^^",
    ),
    "missing_import": (
        'use "nowhere.ncd"\naxis batch\naxis seq <= 64\naxis model = 8, heads = 2, head = model / heads, hidden = 16, vocab = 10\n',
        "m.ncd:1:1: error[E170]: cannot find 'nowhere.ncd'\n 1 | use \"nowhere.ncd\"\n   | ^^^^^^^^^^^^^^^^^\n  help: looked next to m.ncd and in the bundled library",
    ),
    "bad_repeat_zero": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    repeat 0 { x = relu(x) }\n    return x\n}\n",
        "m.ncd:5:12: error[E150]: repeat count must be at least 1, got 0\n 5 |     repeat 0 { x = relu(x) }\n   |            ^",
    ),
    "bad_repeat_huge": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    repeat 1000000000 { x = relu(x) }\n    return x\n}\n",
        "m.ncd:5:12: error[E151]: repeat count 1,000,000,000 is over the limit of 10,000\n 5 |     repeat 1000000000 { x = relu(x) }\n   |            ^^^^^^^^^^",
    ),
    "unknown_primitive": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return rleu(x)\n}\n",
        "m.ncd:5:12: error[E103]: unknown box 'rleu'\n 5 |     return rleu(x)\n   |            ^^^^\n  help: did you mean 'relu'?",
    ),
    "wrong_keyword": (
        H + "model M(x: [batch, model]) -> [batch, hidden] {\n    return linear[model -> hidden](x, bais=false)\n}\n",
        "m.ncd:5:39: error[E131]: 'linear' has no option 'bais'\n 5 |     return linear[model -> hidden](x, bais=false)\n   |                                       ^^^^^^^^^^\n  help: did you mean 'bias'?",
    ),
    "linear_missing_axis": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return linear[hidden -> model](x)\n}\n",
        "m.ncd:5:18: error[E121]: 'x' has axes [batch, model]; linear[...] needs 'hidden'\n 5 |     return linear[hidden -> model](x)\n   |                  ^^^^^^^^^^^^^^^^^\n  help: the value's axes are [batch, model]",
    ),
    "return_mismatch": (
        H + "model M(x: [batch, model]) -> [batch, hidden] {\n    return relu(x)\n}\n",
        "m.ncd:4:31: error[E145]: model 'M' returns axes [batch, model] but declares [batch, hidden] (missing 'hidden'; unexpected 'model')\n 4 | model M(x: [batch, model]) -> [batch, hidden] {\n   |                               ^^^^^^^^^^^^^^^",
    ),
    "no_return": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    y = relu(x)\n}\n",
        "m.ncd:4:7: error[E144]: model 'M' ends without `return`\n 4 | model M(x: [batch, model]) -> [batch, model] {\n   |       ^",
    ),
    "syntax": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return relu(x))\n}\n",
        "m.ncd:5:19: error[E001]: unexpected ')'\n 5 |     return relu(x))\n   |                   ^\n  help: expected ',', ';', 'if', 'repeat', 'return', '}' or a name",
    ),
    "int_arith": (
        H + "model M(t: int[batch] of vocab) -> [batch] {\n    return sin(t)\n}\n",
        "m.ncd:5:16: error[E146]: 'sin' needs a float tensor; this one holds integers\n 5 |     return sin(t)\n   |                ^\n  help: embed integer tensors first: embed[vocab -> features](ids)",
    ),
    "embed_wrong_vocab": (
        H + "model M(t: int[batch] of model) -> [batch, hidden] {\n    return embed[vocab -> hidden](t)\n}\n",
        "m.ncd:5:17: error[E124]: embed[vocab -> ...] needs integers that index 'vocab', but these index 'model'\n 5 |     return embed[vocab -> hidden](t)\n   |                 ^^^^^^^^^^^^^^^^^",
    ),
    "brackets_on_relu": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return relu[model](x)\n}\n",
        "m.ncd:5:16: error[E132]: 'relu' takes no brackets: it acts on every wire\n 5 |     return relu[model](x)\n   |                ^^^^^^^\n  help: write relu(x)",
    ),
    "missing_brackets": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return softmax(x)\n}\n",
        "m.ncd:5:12: error[E138]: 'softmax' needs the axes it acts on in brackets\n 5 |     return softmax(x)\n   |            ^^^^^^^\n  help: e.g. softmax[axis](x)",
    ),
    "size_expr_axis_mismatch": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return rename[model -> hidden](x)\n}\n",
        "m.ncd:5:28: error[E110]: rename gives axis 'hidden' size 8, but 'hidden' has size 16\n 5 |     return rename[model -> hidden](x)\n   |                            ^^^^^^",
    ),
    "circuit_arg_axes": (
        H
        + "circuit F(a: [hidden]) -> [hidden] { return relu(a) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:6:14: error[E143]: argument 'a' of 'F' needs axes [hidden], but the value has [batch, model]\n 6 |     return F(x)\n   |              ^\n  help: missing 'hidden'; bind the circuit's axes with F[...=...] or rename the value's axes",
    ),
    "unbound_free": (
        "axis n, m\nmodel M(x: [n]) -> [n, m] {\n    return x + param[n, m]()\n}\n",
        "m.ncd:3:21: error[E112]: 'param' needs a fixed size for axis 'n' to make its weight, but it is free\n 3 |     return x + param[n, m]()\n   |                     ^^^^^^\n  help: declare a bound (`axis n <= N`)",
    ),
    "unbound_free_embed": (
        "axis batch, n, m = 4\nmodel M(x: [batch, n]) -> [batch, n, m] {\n    return embed[n -> m](positions[n]())\n}\n",
        "m.ncd:3:17: error[E112]: 'embed' needs a fixed size for axis 'n' to make its weight, but it is free\n 3 |     return embed[n -> m](positions[n]())\n   |                 ^^^^^^^^\n  help: declare a bound (`axis n <= N`)",
    ),
    "duplicate_axis": (
        "axis n = 3\naxis n = 4\nmodel M(x: [n]) -> [n] { return x }\n",
        "m.ncd:2:6: error[E104]: axis 'n' is declared twice with different sizes\n 2 | axis n = 4\n   |      ^^^^^\n  help: the first declaration is at m.ncd:1:6",
    ),
    "huge_axis": (
        "axis n = 1000000000000000\nmodel M(x: [n]) -> [n] { return x }\n",
        "m.ncd:1:10: error[E107]: size 1000000000000000 is larger than the limit 2147483647\n 1 | axis n = 1000000000000000\n   |          ^^^^^^^^^^^^^^^^",
    ),
    "conv_unnamed": (
        "axis b, c = 3, d = 8, y = 32\nmodel M(x: [b, c, y]) -> [b, d, y] {\n    return conv[c -> d, y](x, kernel=3, stride=2)\n}\n",
        "m.ncd:3:25: error[E123]: 'conv' changes axis 'y' from 32 to 15; name the new axis\n 3 |     return conv[c -> d, y](x, kernel=3, stride=2)\n   |                         ^\n  help: write `y -> y2`",
    ),
    "conv_no_kernel": (
        "axis b, c = 3, d = 8, y = 32\nmodel M(x: [b, c, y]) -> [b, d, y] {\n    return conv[c -> d, y](x)\n}\n",
        "m.ncd:3:12: error[E139]: 'conv' needs option 'kernel'\n 3 |     return conv[c -> d, y](x)\n   |            ^^^^^^^^^^^^^^^^^^\n  help: e.g. kernel=3",
    ),
    "recursion": (
        "axis n = 4\ncircuit F[k: int](x: [n]) -> [n] { return F[k=k + 1](x) }\nmodel M(x: [n]) -> [n] { return F[k=0](x) }\n",
        "m.ncd:2:43: error[E154]: circuits call each other more than 64 levels deep (at 'F')\n 2 | circuit F[k: int](x: [n]) -> [n] { return F[k=k + 1](x) }\n   |                                           ^\n  note: in 'F', called at m.ncd:2:43\n  note: in 'F', called at m.ncd:3:33\n  help: check that the recursion reaches its base case (`if depth > 0 { ... }`)",
    ),
    "option_type": (
        H + 'model M(x: [batch, model]) -> [batch, model] {\n    return dropout(x, p="high")\n}\n',
        "m.ncd:5:25: error[E136]: option 'p' takes a number\n 5 |     return dropout(x, p=\"high\")\n   |                         ^^^^^^",
    ),
    "tie_unknown": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return linear[model -> model](x, tie=enc)\n}\n",
        "m.ncd:5:42: error[E162]: `tie=` names no instance here: 'enc'\n 5 |     return linear[model -> model](x, tie=enc)\n   |                                          ^^^\n  help: label the instance to share with `... as name`",
    ),
    "linear_twice_axis": (
        H + "model M(x: [batch, model, heads]) -> [batch, model] {\n    return linear[model -> heads head](x)\n}\n",
        "m.ncd:5:18: error[E122]: axis 'heads' is already on the input [batch, model, heads]; 'linear' would make it twice\n 5 |     return linear[model -> heads head](x)\n   |                  ^^^^^^^^^^^^^^^^^^^^^\n  help: rename one of them first",
    ),
    "free_as_number": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return x / batch\n}\n",
        "m.ncd:5:16: error[E109]: axis 'batch' has no fixed size (it is known only at run time); it cannot be used as a number\n 5 |     return x / batch\n   |                ^^^^^",
    ),
    "contract_missing": (
        H + "model M(x: [batch, model], y: [batch, hidden]) -> [batch] {\n    return contract[model](x, y)\n}\n",
        "m.ncd:5:20: error[E121]: 'y' has axes [batch, hidden]; contract[...] needs 'model'\n 5 |     return contract[model](x, y)\n   |                    ^^^^^^^\n  help: the value's axes are [batch, hidden]",
    ),
    "split_indivisible": (
        "axis b, m = 10, h = 3\nmodel M(x: [b, m]) -> [b, h] {\n    return split[m -> h k](x)\n}\n",
        "m.ncd:3:17: error[E106]: split: 10 is not divisible by 3\n 3 |     return split[m -> h k](x)\n   |                 ^^^^^^^^^^",
    ),
    "model_param_default": (
        "axis n = 3\nmodel M[depth: int](x: [n]) -> [n] { return x }\n",
        "m.ncd:2:9: error[E141]: model parameter 'depth' needs a default value\n 2 | model M[depth: int](x: [n]) -> [n] { return x }\n   |         ^^^^^^^^^^",
    ),
    "int_input_no_of": (
        "axis n = 3\nmodel M(t: int[n]) -> [n] { return t }\n",
        "m.ncd:2:12: error[E113]: integer input 't' needs `of AXIS`: the axis its values index\n 2 | model M(t: int[n]) -> [n] { return t }\n   |            ^^^^^^\n\nm.ncd:2:23: error[E146]: model 'M' returns an integer tensor but declares a float one\n 2 | model M(t: int[n]) -> [n] { return t }\n   |                       ^^^",
    ),
    "reserved_instance_name": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return linear[model -> model](x) as training\n}\n",
        "m.ncd:5:12: error[E148]: 'training' cannot name an instance (in 'training.weight'): torch.nn.Module already uses it\n 5 |     return linear[model -> model](x) as training\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  help: choose another name, e.g. with `as name`",
    ),
    "too_many_parameters": (
        "axis a = 200000, b = 200000\nmodel M(x: [a]) -> [b] {\n    return linear[a -> b](x)\n}\n",
        "m.ncd:3:12: error[E155]: model 'M' has 40,000,200,000 parameters, over the limit of 10,000,000,000\n 3 |     return linear[a -> b](x)\n   |            ^^^^^^^^^^^^^^^^^\n  help: the largest is 'linear.weight' [200000, 200000] with 40,000,000,000; use smaller axes or fewer repeats",
    ),
    "huge_activation": (
        "axis a = 100000, b = 100000, c = 100000\nmodel M(x: [a, b], y: [c]) -> [a, b, c] {\n    return contract[](x, y)\n}\n",
        "m.ncd:3:12: error[E156]: 'contract' makes a tensor of 1,000,000,000,000,000 elements [a=100,000, b=100,000, c=100,000], over the limit of 17,179,869,184 (2^34)\n 3 |     return contract[](x, y)\n   |            ^^^^^^^^^^^^^^^^\n  help: free axes count at their bound (or 1 when unbounded); use smaller axes",
    ),
    "repeat_count_unknown": (
        H + M + "    repeat batch { x = relu(x) }\n    return x\n}\n",
        "m.ncd:5:12: error[E108]: the repeat count must be a known integer, but it is batch\n 5 |     repeat batch { x = relu(x) }\n   |            ^^^^^",
    ),
    "cannot_prove_sizes": (
        "axis b, y\naxis c = 2\nmodel M(x: [b, c, y]) -> [b, c, y] {\n    h = conv[c -> c, y -> y2](x, kernel=3, stride=2, padding=1)\n    return upsample[y2 -> y](h, scale=2)\n}\n",
        "m.ncd:5:27: error[E111]: cannot prove that 2*floor((y + -1)/2) + 2 equals y, the size of 'y'\n 5 |     return upsample[y2 -> y](h, scale=2)\n   |                           ^\n  help: rename to a new axis, or make the sizes provably equal",
    ),
    "axis_twice_in_type": (
        H + "model M(x: [batch, model, model]) -> [batch, model] {\n    return x\n}\n",
        "m.ncd:4:27: error[E114]: axis 'model' appears twice in a type\n 4 | model M(x: [batch, model, model]) -> [batch, model] {\n   |                           ^^^^^\n  help: each wire appears once",
    ),
    "free_axis_not_on_inputs": (
        "axis b, s <= 8, n = 2\nmodel M(x: [b, n]) -> [b, n, s] {\n    return contract[](x, param[s]())\n}\n",
        "m.ncd:3:26: error[E115]: free axis 's' is not carried by any input of model 'M'\n 3 |     return contract[](x, param[s]())\n   |                          ^^^^^^^^^^\n  help: give 's' a size, or add an input that has it",
    ),
    "assign_to_int_parameter": (
        H
        + "circuit F[k: int](x: [model]) -> [model] {\n    k = x\n    return x\n}\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[k=1](x)\n}\n",
        "m.ncd:5:5: error[E116]: 'k' is an integer parameter and cannot be assigned\n 5 |     k = x\n   |     ^^^^^",
    ),
    "plain_number_value": (
        H + M + "    y = 2\n    return x\n}\n",
        "m.ncd:5:9: error[E117]: 'y' would be a plain number; values must be tensors\n 5 |     y = 2\n   |         ^",
    ),
    "undecidable_condition": (
        H + M + "    if batch > 2 { x = relu(x) }\n    return x\n}\n",
        "m.ncd:5:8: error[E118]: cannot decide batch > 2 before the model runs\n 5 |     if batch > 2 { x = relu(x) }\n   |        ^^^^^^^^^",
    ),
    "option_value_in_expression": (
        H + M + '    return x + "a"\n}\n',
        'm.ncd:5:16: error[E119]: this is an option value; it can only follow `name=` in a call\n 5 |     return x + "a"\n   |                ^^^',
    ),
    "split_two_new_axes": (
        H + M + "    return sum[p, q](split[model -> p q](x))\n}\n",
        "m.ncd:5:27: error[E125]: split can infer one new axis size, but 'p', 'q' are all new\n 5 |     return sum[p, q](split[model -> p q](x))\n   |                           ^^^^^^^^^^^^^^\n  help: declare all but one of them",
    ),
    "select_out_of_range": (
        H + "model M(x: [batch, heads, model]) -> [batch, model] {\n    return select[heads](x, index=7)\n}\n",
        "m.ncd:5:35: error[E126]: index 7 is outside axis 'heads' of size 2\n 5 |     return select[heads](x, index=7)\n   |                                   ^",
    ),
    "conv_empties_axis": (
        "axis b, c = 2, y = 3\nmodel M(x: [b, c, y]) -> [b, c, y2] {\n    return conv[c -> c, y -> y2](x, kernel=5)\n}\n",
        "m.ncd:3:25: error[E127]: 'conv' leaves axis 'y' with size -1\n 3 |     return conv[c -> c, y -> y2](x, kernel=5)\n   |                         ^^^^^^^\n  help: use a smaller kernel or stride, or more padding",
    ),
    "number_to_tensor_power": (
        H + M + "    return 2 ** x\n}\n",
        "m.ncd:5:12: error[E129]: a number raised to a tensor is not supported; write exp(x * log(a))\n 5 |     return 2 ** x\n   |            ^^^^^^",
    ),
    "parameter_bound_twice": (
        H
        + "circuit F[k: int](x: [model]) -> [model] { return x * k }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[k=1, k=2](x)\n}\n",
        "m.ncd:6:19: error[E133]: parameter 'k' is bound twice\n 6 |     return F[k=1, k=2](x)\n   |                   ^^^",
    ),
    "axis_map_for_circuit": (
        H
        + "circuit F[k: int](x: [model]) -> [model] { return x * k }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[model -> hidden](x)\n}\n",
        "m.ncd:6:14: error[E134]: 'F' takes parameters, not an axis map: write F[name=value, ...]\n 6 |     return F[model -> hidden](x)\n   |              ^^^^^^^^^^^^^^^",
    ),
    "bad_parameter_kind": (
        H
        + "circuit F[k: real](x: [model]) -> [model] { return x }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[k=1](x)\n}\n",
        "m.ncd:4:11: error[E135]: parameter kind must be `axis`, `int`, `float` or `bool`, not 'real'\n 4 | circuit F[k: real](x: [model]) -> [model] { return x }\n   |           ^^^^^^^",
    ),
    "linear_without_arrow": (
        H + M + "    return linear[model](x)\n}\n",
        "m.ncd:5:18: error[E137]: linear takes one map: linear[in axes -> out axes]\n 5 |     return linear[model](x)\n   |                  ^^^^^^^\n  help: e.g. linear[model -> heads head]",
    ),
    "unbindable_axis_parameter": (
        H
        + "circuit F[d](x: [d]) -> [d] { return relu(x) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F(x)\n}\n",
        "m.ncd:6:12: error[E140]: cannot bind axis parameter 'd' of 'F': there is no axis 'd' here\n 6 |     return F(x)\n   |            ^\n  help: write F[d=<axis>]",
    ),
    "fresh_axis_never_created": (
        H
        + "circuit F[d, e](x: [d]) -> [d] { return relu(x) }\nmodel M(x: [batch, model]) -> [batch, model] {\n    return F[model, fresh](x)\n}\n",
        "m.ncd:6:13: error[E147]: 'F' never creates axis 'e', so 'fresh' gets no size\n 6 |     return F[model, fresh](x)\n   |             ^^^^^^^^^^^^^^\n  help: bind 'e' to an existing axis",
    ),
    "tie_to_missing_parameter": (
        H
        + "model M(t: int[batch] of vocab) -> [batch, vocab] {\n    x = embed[vocab -> model](t) as tok\n    return linear[model -> vocab](x, tie=tok)\n}\n",
        "m.ncd:6:12: error[E160]: cannot tie 'linear.bias': there is no parameter 'tok.bias'\n 6 |     return linear[model -> vocab](x, tie=tok)\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic_text(name: str) -> None:
    source, expected = CASES[name]
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert str(info.value) == expected


def test_there_are_at_least_thirty_distinct_mistakes() -> None:
    codes = set()
    for source, _ in CASES.values():
        with pytest.raises(ncdl.NcdlError) as info:
            ncdl.loads(source, "m.ncd")
        codes |= {(d.code, d.message) for d in info.value.diagnostics}
    assert len(CASES) >= 30 and len(codes) >= 30


def test_every_diagnostic_has_a_location_and_caret() -> None:
    for source, _ in CASES.values():
        with pytest.raises(ncdl.NcdlError) as info:
            ncdl.loads(source, "m.ncd")
        for d in info.value.diagnostics:
            assert d.span is not None and d.span.file == "m.ncd"
            assert "^" in d.format()


def test_import_cycle(tmp_path) -> None:
    (tmp_path / "a.ncd").write_text('use "b.ncd"\n')
    (tmp_path / "b.ncd").write_text('use "a.ncd"\n')
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.load(tmp_path / "a.ncd")
    (d,) = info.value.diagnostics
    assert d.code == "E172"
    assert d.message == "import cycle: a.ncd -> b.ncd -> a.ncd"
    assert (d.span.line, d.span.col) == (1, 1)


def test_independent_mistakes_are_reported_together() -> None:
    source = (
        H
        + "model M(x: [batch, model]) -> [batch, model] {\n    a = relu(y)\n    b = softmax[hedas](x)\n    return x\n}\n"
    )
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("E102", 5), ("E101", 6)]

"""Issue 14: plausible typos and run-time traps that once raised internal errors or checked but could not run,
each now a located diagnostic (E210–E215) with its exact text, and the cases that are now accepted."""

from __future__ import annotations

import pytest

import ncdl

CASES: dict[str, tuple[str, str]] = {
    "spatial_axis_twice": (
        "axis batch, x = 4, c = 3\nmodel M(v: [batch, c, x]) -> [batch, c, x] {\n    return conv[c -> c, x, x](v, kernel=3, padding=1)\n}\n",
        "m.ncd:3:28: error[E210]: spatial axis 'x' appears twice in 'conv[...]'\n 3 |     return conv[c -> c, x, x](v, kernel=3, padding=1)\n   |                            ^\n  help: name each spatial axis once",
    ),
    "spatial_axis_twice_distinct_outputs": (
        "axis batch, x = 4, c = 3\nmodel M(v: [batch, c, x]) -> [batch, c, x1, x2] {\n    return conv[c -> c, x -> x1, x -> x2](v, kernel=3, padding=1)\n}\n",
        "m.ncd:3:34: error[E210]: spatial axis 'x' appears twice in 'conv[...]'\n 3 |     return conv[c -> c, x -> x1, x -> x2](v, kernel=3, padding=1)\n   |                                  ^^^^^^^\n  help: name each spatial axis once",
    ),
    "output_padding_not_below_stride": (
        "axis batch, y, c = 3\nmodel M(v: [batch, c, y]) -> [batch, c, y2] {\n    return conv_transpose[c -> c, y -> y2](v, kernel=3, stride=2, output_padding=2)\n}\n",
        "m.ncd:3:82: error[E211]: output_padding 2 on axis 'y' must be smaller than its stride (2) or dilation (1)\n 3 |     return conv_transpose[c -> c, y -> y2](v, kernel=3, stride=2, output_padding=2)\n   |                                                                                  ^\n  help: output_padding only picks among the output sizes one input size allows",
    ),
    "batchnorm_one_value_per_channel": (
        "axis c = 3\nmodel M(v: [c]) -> [c] {\n    return batchnorm[c](v)\n}\n",
        "m.ncd:3:12: error[E212]: batchnorm[c] of [c] has one value per channel: there is nothing to take statistics over\n 3 |     return batchnorm[c](v)\n   |            ^^^^^^^^^^^^^^^\n  help: batchnorm averages over the other axes (the batch, the positions); add them, or use layernorm",
    ),
    "huge_kernel": (
        "axis batch, y, c = 3\nmodel M(v: [batch, c, y]) -> [batch, c, y2] {\n    return maxpool[y -> y2](v, kernel=100000000000000000000)\n}\n",
        "m.ncd:3:39: error[E213]: option 'kernel' is 1e+20, beyond the integer range -2147483647..2147483647\n 3 |     return maxpool[y -> y2](v, kernel=100000000000000000000)\n   |                                       ^^^^^^^^^^^^^^^^^^^^^\n  help: the kernels take 32-bit sizes",
    ),
    "huge_index": (
        "axis batch, c\nmodel M(v: [batch, c]) -> [batch] {\n    return select[c](v, index=1e300)\n}\n",
        "m.ncd:3:31: error[E213]: option 'index' is 1e+300, beyond the integer range -2147483647..2147483647\n 3 |     return select[c](v, index=1e300)\n   |                               ^^^^^\n  help: the kernels take 32-bit sizes",
    ),
    "tie_to_unused_instance": (
        "axis batch, c = 3\nmodel M(v: [batch, c]) -> [batch, c] {\n    _u = linear[c -> c](v) as a\n    return linear[c -> c](v, tie=a) as b\n}\n",
        "m.ncd:4:12: error[E214]: cannot tie 'b.weight' to 'a.weight': the result of 'a' is never used, so the model keeps no weights there\n 4 |     return linear[c -> c](v, tie=a) as b\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  help: use the result of 'a', or drop it and give this box its own weights",
    ),
    "param_named_output": (
        "axis batch, c = 3\nmodel M(v: [batch, c]) -> [batch, c] {\n    return v + param[c]() as output\n}\n",
        "m.ncd:3:16: error[E215]: parameter 'output' has the name of the model's output\n 3 |     return v + param[c]() as output\n   |                ^^^^^^^^^^^^^^^^^^^^\n  help: label it `as output_param` or another free name",
    ),
    "param_named_input": (
        "axis batch, c = 3\nmodel M(v: [batch, c]) -> [batch, c] {\n    return v + param[c]() as v\n}\n",
        "m.ncd:3:16: error[E215]: parameter 'v' has the name of the model's input\n 3 |     return v + param[c]() as v\n   |                ^^^^^^^^^^^^^^^\n  help: label it `as v_param` or another free name",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic_text(name: str) -> None:
    source, expected = CASES[name]
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert str(info.value) == expected


def test_tie_to_an_instance_that_is_itself_tied() -> None:
    # was: E160 "there is no parameter 'b.weight'"; the three boxes now share a's tensors
    text = (
        "axis batch, c = 3\n"
        "model M(v: [batch, c]) -> [batch, c] {\n"
        "    x = linear[c -> c](v) as a\n"
        "    y = linear[c -> c](x, tie=a) as b\n"
        "    return linear[c -> c](y, tie=b) as d\n"
        "}\n"
    )
    module = ncdl.loads(text, "m.ncd").to_torch()
    assert sorted(name for name, _ in module.named_parameters()) == ["a.bias", "a.weight"]
    assert module.get_parameter("d.weight") is module.get_parameter("a.weight")


def test_render_of_a_program_with_select() -> None:
    # was: KeyError 'index' in the diagram's labels
    text = "axis batch, c = 3\nmodel M(v: [batch, c]) -> [batch] { return select[c](v, index=1) }\n"
    dot = ncdl.loads(text, "m.ncd").render().source
    assert "select" in dot

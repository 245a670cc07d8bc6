"""The Python face: repr(program), program.summary(), the typed stats result
and what print(module) shows."""

from __future__ import annotations

import json

import ncdl
from ncdl import architectures

SOURCE = (
    "axis batch, n = 4, hidden = 8\n"
    "model M(x: [batch, n]) -> [batch, n] {\n"
    "    h = relu(linear[n -> hidden](x) as up)\n"
    "    return linear[hidden -> n](h) as down\n}\n"
)


def test_repr_lists_models_with_signatures() -> None:
    program = ncdl.loads(SOURCE, "m.ncd")
    assert repr(program) == "<ncdl.Program 'm.ncd'\n  model M(x: [batch, n]) -> [batch, n]>"


def test_repr_of_a_library_lists_its_circuits_and_warnings() -> None:
    program = ncdl.loads("circuit F[c](x: [c], y: [c]) -> [c] { return relu(x) }\n", "lib.ncd")
    assert repr(program) == (
        "<ncdl.Program 'lib.ncd'\n  circuit F[c](x: [c], y: [c]) -> [c]\n  1 warning (program.warnings)>"
    )


def test_summary_is_a_table_of_boxes_with_totals() -> None:
    lines: list[str] = []
    ncdl.loads(SOURCE, "m.ncd").summary(batch=2, print_fn=lines.append)
    assert lines[0].splitlines() == [
        "Model: M  (batch=2)",
        "  box   op      output axes      shape   params  FLOPs",
        "  ----------------------------------------------------",
        "  up    linear  [batch, hidden]  [2, 8]      40    128",
        "  h     relu    [batch, hidden]  [2, 8]       0      0",
        "  down  linear  [batch, n]       [2, 4]      36    128",
        "  ----------------------------------------------------",
        "  total parameters:   76 (304 B as float32)",
        "  forward FLOPs:      256",
        "  activation memory:  160 B",
    ]


def test_stats_is_typed_and_still_a_dict() -> None:
    result = ncdl.loads(SOURCE, "m.ncd").stats(batch=2)
    assert result.params == result["params"] == 76
    assert result.flops == 256
    assert json.loads(json.dumps(result))["params"] == 76
    assert str(result).startswith("model M\naxis sizes         batch=2\nparameters         76 (304 B as float32)")
    assert repr(result) == "Stats(model='M', params=76, flops=256)"


def test_print_of_a_module_shows_what_each_instance_holds() -> None:
    text = str(architectures.load("gpt").to_torch("GPT"))
    assert "(wte): Instance(embed[vocab -> model]; weight 65x128 [vocab, model])" in text
    assert (
        "(c_attn): Instance(linear[model -> three heads head]; weight 3x4x32x128 [three, heads, head, model]; "
        "bias 3x4x32 [three, heads, head])" in text
    )
    assert "Module()" not in text

"""The diagnostics of positions, casts, booleans, masks, activations and layout boxes: their exact text.

Each case is a small program with one mistake; the expected text is the whole output.
"""

from __future__ import annotations

import pytest

import ncdl

H = "axis batch, seq <= 64, key ~ seq\naxis model = 8, half = 4\n"

CASES: dict[str, tuple[str, str]] = {
    "bool_arith": (
        "model M(m: bool[batch]) -> [batch] {\n    return m + 1\n}\n",
        "m.ncd:4:12: error[E180]: `+` needs numbers; one side holds booleans\n 4 |     return m + 1\n   |            ^^^^^\n  help: select with where(m, a, b), or convert with float(m)",
    ),
    "bool_into_box": (
        "model M(m: bool[batch, model]) -> [batch, model] {\n    return relu(m)\n}\n",
        "m.ncd:4:17: error[E180]: 'relu' needs numbers; this tensor holds booleans\n 4 |     return relu(m)\n   |                 ^\n  help: select with where(m, a, b), or convert with float(m)",
    ),
    "not_float": (
        "model M(x: [batch]) -> [batch] {\n    return where(not x, x, 0)\n}\n",
        "m.ncd:4:18: error[E181]: `not` needs a boolean tensor; this one holds floats\n 4 |     return where(not x, x, 0)\n   |                  ^^^^^\n  help: compare to make booleans: x > 0",
    ),
    "and_float": (
        "model M(x: [batch], m: bool[batch]) -> [batch] {\n    return where(m and x, x, 0)\n}\n",
        "m.ncd:4:24: error[E181]: `and` needs boolean tensors; this one holds floats\n 4 |     return where(m and x, x, 0)\n   |                        ^\n  help: compare to make booleans: x > 0",
    ),
    "compare_numbers": (
        "model M(x: [batch]) -> [batch] {\n    return where(1 < 2, x, 0)\n}\n",
        "m.ncd:4:18: error[E181]: `<` between two numbers is decided before the model runs\n 4 |     return where(1 < 2, x, 0)\n   |                  ^^^^^\n  help: use a compile-time condition: if a < b { ... }",
    ),
    "where_float_cond": (
        "model M(x: [batch]) -> [batch] {\n    return where(x, x, 0)\n}\n",
        "m.ncd:4:18: error[E181]: the condition of where must be a boolean tensor, not a tensor of floats\n 4 |     return where(x, x, 0)\n   |                  ^\n  help: compare to make booleans: x > 0",
    ),
    "where_mismatch": (
        "model M(x: [batch, model], m: bool[batch, seq]) -> [batch, model] {\n    return where(m, x, 0)\n}\n",
        "m.ncd:4:12: error[E120]: axis mismatch in `where`: [batch, seq] and [batch, model]\n 4 |     return where(m, x, 0)\n   |            ^^^^^^^^^^^^^^\n  help: 'seq' only on the left, 'model' only on the right; one side's axes must include the other's (rename or project first)",
    ),
    "mask_float": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return mask[seq](x, x)\n}\n",
        "m.ncd:4:25: error[E181]: the mask must be a boolean tensor; this one holds floats\n 4 |     return mask[seq](x, x)\n   |                         ^\n  help: compare to make booleans: x > 0",
    ),
    "mask_extra_axis": (
        "model M(x: [batch, seq], m: bool[batch, model]) -> [batch, seq] {\n    return mask[batch](x, m)\n}\n",
        "m.ncd:4:27: error[E121]: the mask has axes [batch, model]; the value [batch, seq] lacks 'model'\n 4 |     return mask[batch](x, m)\n   |                           ^\n  help: a mask's axes are a subset of the value's",
    ),
    "positions_float_offset": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return x + float(positions[seq](x))\n}\n",
        "m.ncd:4:37: error[E182]: the offset of positions[seq] must be an integer tensor; this one holds floats\n 4 |     return x + float(positions[seq](x))\n   |                                     ^\n  help: declare it `int[...]`, or convert with int(x)",
    ),
    "positions_offset_has_axis": (
        "model M(x: [batch, seq], o: int[seq] of seq) -> [batch, seq] {\n    return x + float(positions[seq](o))\n}\n",
        "m.ncd:4:31: error[E122]: axis 'seq' is already on the input [seq]; 'positions' would make it twice\n 4 |     return x + float(positions[seq](o))\n   |                               ^^^^^\n  help: rename one of them first",
    ),
    "cast_noop": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return float(x)\n}\n",
        "m.ncd:4:12: error[E183]: 'float' of a tensor that already holds floats\n 4 |     return float(x)\n   |            ^^^^^^^^\n  help: drop float(...)",
    ),
    "clamp_no_bounds": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return clamp(x)\n}\n",
        "m.ncd:4:12: error[E139]: 'clamp' needs option 'min' or 'max'\n 4 |     return clamp(x)\n   |            ^^^^^^^^\n  help: e.g. clamp(x, min=0, max=6)",
    ),
    "clamp_order": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return clamp(x, min=2, max=1)\n}\n",
        "m.ncd:4:32: error[E136]: clamp needs min <= max, got min=2 and max=1\n 4 |     return clamp(x, min=2, max=1)\n   |                                ^",
    ),
    "max_one_arg": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return max(x)\n}\n",
        "m.ncd:4:12: error[E138]: 'max' needs the axes it reduces in brackets, or two values to compare\n 4 |     return max(x)\n   |            ^^^\n  help: e.g. max[axis](x), or max(a, b)",
    ),
    "int_into_sin": (
        "model M(x: [batch, seq]) -> [batch, seq] {\n    return sin(positions[seq]()) + x\n}\n",
        "m.ncd:4:16: error[E146]: 'sin' needs a float tensor; this one holds integers\n 4 |     return sin(positions[seq]()) + x\n   |                ^^^^^^^^^^^^^^^^\n  help: convert first: float(x)",
    ),
    "slice_step": (
        "model M(x: [batch, seq]) -> [batch, part] {\n    return slice[seq -> part](x, step=0)\n}\n",
        "m.ncd:4:39: error[E136]: step must be positive, got 0\n 4 |     return slice[seq -> part](x, step=0)\n   |                                       ^\n  help: reverse an axis with flip[axis](x)",
    ),
    "slice_empty": (
        "model M(x: [batch, model]) -> [batch, part] {\n    return slice[model -> part](x, start=5, stop=2)\n}\n",
        "m.ncd:4:12: error[E127]: 'slice' leaves axis 'model' with size 0\n 4 |     return slice[model -> part](x, start=5, stop=2)\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ),
    "slice_no_map": (
        "model M(x: [batch, model]) -> [batch, model] {\n    return slice[model](x, start=1)\n}\n",
        "m.ncd:4:17: error[E137]: 'slice' takes one axis and its new name: slice[seq -> part](x, start=0, stop=8)\n 4 |     return slice[model](x, start=1)\n   |                 ^^^^^^^",
    ),
    "roll_no_shift": (
        "model M(x: [batch, model]) -> [batch, model] {\n    return roll[model](x)\n}\n",
        "m.ncd:4:12: error[E139]: 'roll' needs option 'shift'\n 4 |     return roll[model](x)\n   |            ^^^^^^^^^^^^^^\n  help: e.g. roll[seq](x, shift=1)",
    ),
    "pad_negative": (
        "model M(x: [batch, model]) -> [batch, wide] {\n    return pad[model -> wide](x, before=-1)\n}\n",
        "m.ncd:4:12: error[E136]: pad needs before >= 0 and after >= 0, got -1 and 0\n 4 |     return pad[model -> wide](x, before=-1)\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ),
    "pad_reflect_too_far": (
        'model M(x: [batch, half]) -> [batch, wide] {\n    return pad[half -> wide](x, after=4, mode="reflect")\n}\n',
        'm.ncd:4:47: error[E136]: mode="reflect" pads less than the axis size (4), got before=0, after=4\n 4 |     return pad[half -> wide](x, after=4, mode="reflect")\n   |                                               ^^^^^^^^^',
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic_text(name: str) -> None:
    source, expected = CASES[name]
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(H + source, "m.ncd")
    assert str(info.value) == expected

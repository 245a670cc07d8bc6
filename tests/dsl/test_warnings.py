"""Warnings (legal but suspicious code) and the errors for what is certainly wrong:
the exact text a user sees, that warnings never fail a command unless ``--werror``,
and that every bundled file is free of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ncdl
from ncdl.cli import main

ROOT = Path(__file__).resolve().parents[2]
H = "axis batch, model = 8, hidden = 16\n"

WARNINGS: dict[str, tuple[str, str]] = {
    "unused_value": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    h = relu(x)\n    g = gelu(h)\n    return h\n}\n",
        "m.ncd:4:5: warning[W001]: value 'g' is computed but never used\n 4 |     g = gelu(h)\n   |     ^\n"
        "  help: `h` is used later unchanged; did you mean `h = gelu(h)`?",
    ),
    "unused_value_no_hint": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    g = gelu(x) * 2\n    return relu(x)\n}\n",
        "m.ncd:3:5: warning[W001]: value 'g' is computed but never used\n 3 |     g = gelu(x) * 2\n   |     ^\n"
        "  help: `x` is used later unchanged; did you mean `x = gelu(x) * 2`?",
    ),
    "unused_learned_box": (
        H
        + "model M(x: [batch, model]) -> [batch, model] {\n    s = linear[model -> hidden](x) as scale\n"
        + "    return x\n}\n",
        "m.ncd:3:5: warning[W002]: 's' is never used, so its learned box 'linear' is dropped with its weights\n"
        " 3 |     s = linear[model -> hidden](x) as scale\n   |     ^\n"
        "  help: `x` is used later unchanged; did you mean `x = linear[model -> hidden](x) as scale`?",
    ),
    "unused_circuit_with_weights": (
        H
        + "circuit P(v: [model]) -> [model] { return linear[model -> model](v) }\n"
        + "model M(x: [batch, model], y: [batch, model]) -> [batch, model] {\n    p = P(y)\n    return x + y\n}\n",
        "m.ncd:4:5: warning[W002]: 'p' is never used, so its learned box 'P' is dropped with its weights\n"
        " 4 |     p = P(y)\n   |     ^\n  help: `y` is used later unchanged; did you mean `y = P(y)`?",
    ),
    "unused_input": (
        H + "model M(x: [batch, model], mask: [batch, model]) -> [batch, model] { return relu(x) }\n",
        "m.ncd:2:28: warning[W003]: input 'mask' of model 'M' is never used\n"
        " 2 | model M(x: [batch, model], mask: [batch, model]) -> [batch, model] { return relu(x) }\n"
        "   |                            ^^^^\n"
        "  help: remove it, or prefix its name with `_` if it is unused on purpose",
    ),
    "unused_argument": (
        H
        + "circuit F(a: [model], b: [model]) -> [model] { return relu(a) }\n"
        + "model M(x: [batch, model]) -> [batch, model] { return F(x, x) }\n",
        "m.ncd:2:23: warning[W003]: argument 'b' of circuit 'F' is never used\n"
        " 2 | circuit F(a: [model], b: [model]) -> [model] { return relu(a) }\n"
        "   |                       ^\n"
        "  help: remove it, or prefix its name with `_` if it is unused on purpose",
    ),
    "unused_parameter": (
        H
        + "circuit F[k: int](a: [model]) -> [model] { return relu(a) }\n"
        + "model M(x: [batch, model]) -> [batch, model] { return F[k=2](x) }\n",
        "m.ncd:2:11: warning[W004]: parameter 'k' of circuit 'F' is never used\n"
        " 2 | circuit F[k: int](a: [model]) -> [model] { return relu(a) }\n"
        "   |           ^\n"
        "  help: remove it, or prefix its name with `_` if it is unused on purpose",
    ),
    "shadowed_axis": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    hidden = relu(x)\n    return hidden / hidden\n}\n",
        "m.ncd:3:5: warning[W005]: value 'hidden' has the name of an axis; as a number, `hidden` now means the value\n"
        " 3 |     hidden = relu(x)\n   |     ^^^^^^\n  help: rename the value",
    ),
    "shadowed_axis_argument": (
        H
        + "circuit F(hidden: [model]) -> [model] { return hidden * 2 }\n"
        + "model M(x: [batch, model]) -> [batch, model] { return F(x) }\n",
        "m.ncd:2:11: warning[W005]: value 'hidden' has the name of an axis; as a number, `hidden` now means the value\n"
        " 2 | circuit F(hidden: [model]) -> [model] { return hidden * 2 }\n"
        "   |           ^^^^^^\n  help: rename the value",
    ),
}

ERRORS: dict[str, tuple[str, str]] = {
    "keyword_twice": (
        H
        + "model M(x: [batch, model]) -> [batch, model] {\n    return linear[model -> model](x, bias=false, bias=true)\n}\n",
        "m.ncd:3:50: error[E133]: option 'bias' is given twice\n"
        " 3 |     return linear[model -> model](x, bias=false, bias=true)\n"
        "   |                                                  ^^^^^^^^^\n"
        "  help: the first is at m.ncd:3:38; keep one",
    ),
    "duplicate_label": (
        H
        + "model M(x: [batch, model]) -> [batch, model] {\n    h = linear[model -> model](x) as proj\n"
        + "    return linear[model -> model](h) as proj\n}\n",
        "m.ncd:4:41: error[E163]: the name 'proj' is already taken by another instance in this scope\n"
        " 4 |     return linear[model -> model](h) as proj\n"
        "   |                                         ^^^^\n"
        "  help: the first is at m.ncd:3:9; weights are loaded by name, so each instance needs its own: "
        "choose another label",
    ),
    "param_without_axes": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return x * param(init=ones)\n}\n",
        "m.ncd:3:16: error[E138]: 'param' needs the axes of its tensor in brackets\n"
        " 3 |     return x * param(init=ones)\n   |                ^^^^^\n"
        "  help: e.g. param[model](init=ones); for one learned number declare `axis one = 1` and write param[one]",
    ),
    "param_empty_brackets": (
        H + "model M(x: [batch, model]) -> [batch, model] {\n    return x * param[](init=ones)\n}\n",
        "m.ncd:3:21: error[E138]: 'param' needs the axes of its tensor in brackets\n"
        " 3 |     return x * param[](init=ones)\n   |                     ^^\n"
        "  help: e.g. param[model](init=ones); for one learned number declare `axis one = 1` and write param[one]",
    ),
}


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warning_text(name: str) -> None:
    source, expected = WARNINGS[name]
    program = ncdl.loads(source, "m.ncd")
    assert "\n\n".join(str(w) for w in program.warnings) == expected
    assert all(w.is_warning for w in program.warnings)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_text(name: str) -> None:
    source, expected = ERRORS[name]
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "m.ncd")
    assert str(info.value) == expected


def test_underscore_names_are_unused_on_purpose() -> None:
    source = H + "model M(x: [batch, model], _mask: [batch, model]) -> [batch, model] {\n"
    source += "    _probe = relu(x)\n    return x\n}\n"
    assert ncdl.loads(source, "m.ncd").warnings == []


def test_values_read_by_a_later_iteration_or_branch_are_used() -> None:
    source = (
        "axis batch, model = 8\n"
        "model M[n: int = 3](x: [batch, model]) -> [batch, model] {\n"
        "    h = x\n    s = x\n"
        "    repeat n { s = s + h\n        h = relu(h) }\n"
        "    if n > 2 { s = relu(s) } else { s = s * 2 }\n"
        "    return s\n}\n"
    )
    assert ncdl.loads(source, "m.ncd").warnings == []


def test_a_dead_value_left_in_the_last_iteration_is_reported_once() -> None:
    source = "axis batch, model = 8\nmodel M(x: [batch, model]) -> [batch, model] {\n"
    source += "    repeat 3 { g = relu(x) }\n    return x\n}\n"
    assert [(w.code, w.span.line) for w in ncdl.loads(source, "m.ncd").warnings] == [("W001", 3)]


def test_warnings_go_to_stderr_and_do_not_fail(tmp_path, capsys) -> None:
    path = tmp_path / "w.ncd"
    path.write_text(WARNINGS["unused_value"][0])
    assert main(["check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{path}:4:5: warning[W001]: value 'g' is computed but never used")
    assert captured.out.startswith("model M(")
    assert main(["check", "--werror", str(path)]) == 1
    assert capsys.readouterr().err.endswith("error: 1 warning, and --werror makes them errors\n")


def test_every_command_shows_warnings(tmp_path, capsys) -> None:
    path = tmp_path / "w.ncd"
    path.write_text(WARNINGS["unused_input"][0])
    assert main(["ir", str(path), "-o", str(tmp_path / "ir.json")]) == 0
    assert "warning[W003]" in capsys.readouterr().err
    assert main(["stats", str(path)]) == 0
    assert "warning[W003]" in capsys.readouterr().err


def _bundled_sources() -> list[tuple[str, str]]:
    files = [*(ROOT / "ncdl" / "architectures").glob("*.ncd"), *(ROOT / "examples").glob("*.ncd")]
    files += (ROOT / "tests" / "dsl" / "programs").glob("*.ncd")
    out = [(str(f), f.read_text()) for f in sorted(files)]
    for doc in (ROOT / "docs" / "language.md", ROOT / "README.md"):
        for i, block in enumerate(re.findall(r"```ncdl\n(.*?)```", doc.read_text(), flags=re.S)):
            if not block.startswith("# error"):
                out.append((f"{doc.name}#{i}", block))
    return out


def test_bundled_files_and_doc_examples_have_no_warnings() -> None:
    sources = _bundled_sources()
    assert len(sources) > 30
    for name, text in sources:
        path = name if name.endswith(".ncd") else "doc.ncd"
        assert ncdl.loads(text, path).warnings == [], name


@pytest.mark.parametrize("spelling", ["constant", "full"])
def test_constant_init_fills_the_tensor_in_both_backends(spelling: str) -> None:
    import numpy as np
    from onnx import numpy_helper

    source = (
        H + f"model L(x: [batch, model]) -> [batch, model] {{ return x * param[model](init={spelling}(0.25)) as g }}\n"
    )
    program = ncdl.loads(source, "m.ncd")
    assert program.graph().nodes[next(n for n, d in program.graph().nodes(data=True) if d["op"] == "param")]["params"][
        0
    ]["init"] == {"kind": "constant", "value": 0.25}
    assert program.to_torch().g.detach().tolist() == [0.25] * 8
    (weight,) = program.to_onnx().graph.initializer
    assert np.array_equal(numpy_helper.to_array(weight), np.full(8, 0.25, dtype=np.float32))

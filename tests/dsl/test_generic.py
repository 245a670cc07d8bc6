"""Generic checking: every circuit is checked at its definition, with its
parameters opaque, so a mistake anywhere in a library file is found at its
line; what depends on a binding is reported when a model binds it, with a
note naming the call."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ncdl
from ncdl.cli import main

LIBRARY = Path(__file__).resolve().parents[2] / "ncdl" / "architectures"
KEYWORDS = {"circuit", "model", "return", "if", "else", "repeat", "as", "axis", "use", "int", "of", "in"}
KEYWORDS |= {"and", "or", "not", "true", "false"}


def _errors(source: str, path: str = "lib.ncd") -> list[str]:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, path)
    return [d.format() for d in info.value.diagnostics]


def test_a_library_circuit_is_checked_without_any_model() -> None:
    source = "circuit F[c, k: int](x: [c]) -> [c] {\n    s = softmax[d](x)\n    return s\n}\n"
    assert _errors(source) == [
        "lib.ncd:2:17: error[E101]: unknown axis 'd'\n 2 |     s = softmax[d](x)\n   |                 ^\n"
        "  help: declare it: `axis d = <size>`"
    ]


def test_both_branches_of_a_parameter_dependent_if_are_checked() -> None:
    source = (
        "circuit F[c, deep: int](x: [c]) -> [c] {\n"
        "    if deep > 0 { x = relu(x) } else { x = softmax[c](y) }\n    return x\n}\n"
    )
    (error,) = _errors(source)
    assert error.startswith("lib.ncd:2:55: error[E102]: unknown value 'y'")


def test_a_wrong_result_type_is_reported_at_the_signature() -> None:
    source = "circuit F[c, d](x: [c, d]) -> [c] {\n    return x\n}\n"
    assert _errors(source) == [
        "lib.ncd:1:31: error[E145]: 'F' returns axes [c, d] but declares [c]: unexpected 'd'\n"
        " 1 | circuit F[c, d](x: [c, d]) -> [c] {\n   |                               ^^^"
    ]


def test_a_binding_dependent_error_names_the_call_site() -> None:
    source = (
        "axis batch, model = 10\n"
        "circuit Heads[m, h](x: [m]) -> [m] {\n"
        "    return merge[h rest -> m](softmax[rest](split[m -> h rest](x)))\n}\n"
        "model M(x: [batch, model]) -> [batch, model] {\n    return Heads[model, 3](x)\n}\n"
    )
    assert _errors(source) == [
        "lib.ncd:3:50: error[E106]: split: 10 is not divisible by 3\n"
        " 3 |     return merge[h rest -> m](softmax[rest](split[m -> h rest](x)))\n"
        "   |                                                  ^^^^^^^^^^^^^\n"
        "  note: in 'Heads', called at lib.ncd:6:12"
    ]


def test_a_mistake_found_at_the_definition_is_reported_once() -> None:
    source = (
        "axis batch, model = 8\ncircuit F[c](x: [c]) -> [c] { return softmax[d](x) }\n"
        "model M(x: [batch, model]) -> [batch, model] { return F[model](F[model](x)) }\n"
    )
    assert [e.splitlines()[0] for e in _errors(source)] == ["lib.ncd:2:46: error[E101]: unknown axis 'd'"]


def test_recursive_and_parameter_sized_circuits_check_generically() -> None:
    source = (
        "circuit Level[c, y, depth: int](v: [c, y]) -> [c, y] {\n"
        "    if depth > 0 {\n        h = maxpool[y -> y2](v, kernel=2)\n        h = Level[y=y2, depth=depth - 1](h)\n"
        "        v = v + upsample[y2 -> y](h)\n    }\n    return v\n}\n"
        "circuit Wide[c, k: int](v: [c]) -> [(k * c)] {\n"
        "    return concat[c, ((k - 1) * c) -> (k * c)](v, linear[c -> ((k - 1) * c)](v))\n}\n"
    )
    program = ncdl.loads(source, "lib.ncd")
    assert program.models == [] and sorted(program.circuits) == ["Level", "Wide"]


def test_check_of_a_library_file_lists_its_circuits(capsys) -> None:
    assert main(["check", str(LIBRARY / "attention.ncd")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("attention.ncd: ok: 5 circuits checked (no models)")
    assert out[1] == (
        "circuit Attention[query, key, head](q: [query, head], k: [key, head], v: [key, head]) -> [query, head]"
    )


def _mutations(path: Path) -> list[tuple[int, str, str]]:
    """Each reference to a name in a circuit, misspelt: (line, name, program).
    Definitions (circuit names, labels after `as`) are left alone: renaming
    them is legal."""
    lines = path.read_text().split("\n")
    out = []
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        for m in re.finditer(r"[A-Za-z_][A-Za-z_0-9]*", code):
            before = code[: m.start()].rstrip()
            if m.group() in KEYWORDS or before.endswith((" as", "circuit", "model")) or before == "":
                continue
            mutated = lines[:]
            mutated[i] = line[: m.start()] + m.group() + "q" + line[m.end() :]
            out.append((i + 1, m.group(), "\n".join(mutated)))
    return out


@pytest.mark.parametrize("name", ["attention.ncd", "convnets.ncd", "transformer.ncd"])
def test_every_misspelt_name_in_a_library_file_is_reported(name: str) -> None:
    path = LIBRARY / name
    mutations = _mutations(path)
    assert len(mutations) > 50
    silent = []
    for line, word, source in mutations:
        try:
            program = ncdl.loads(source, str(path))
        except ncdl.NcdlError:
            continue
        if not program.warnings:
            silent.append((line, word))
    assert silent == []


@pytest.mark.parametrize("name", ["attention.ncd", "convnets.ncd", "transformer.ncd"])
def test_a_misspelt_axis_in_a_circuit_body_is_reported_at_its_line(name: str) -> None:
    path = LIBRARY / name
    lines = path.read_text().split("\n")
    checked = 0
    for number, line in enumerate(lines, 1):
        code = line.split("#")[0]
        match = re.search(r"\b(softmax|layernorm|linear|conv|batchnorm|contract)\[(\w+)", code)
        if not match or code.lstrip().startswith("circuit"):
            continue
        start = match.start(2)
        source = "\n".join([*lines[: number - 1], code[:start] + "zz" + code[start:], *lines[number:]])
        with pytest.raises(ncdl.NcdlError) as info:
            ncdl.loads(source, str(path))
        assert (info.value.diagnostics[0].code, info.value.diagnostics[0].span.line) == ("E101", number)
        checked += 1
    assert checked >= 5


def test_a_number_folded_from_a_parameters_size_is_checked_at_each_call() -> None:
    # At the definition 1 stands in for the opaque sizes, so `h - 1` and `log(k - 1)` would
    # look like a division by zero and log(0): the call sites decide, with their sizes.
    circuit = (
        "circuit S[h, k: int = 2](x: [h]) -> [h] {\n"
        "    return x * (-log(10000) / (h - 1)) + log(k - 1) + 1 / (2 * h - 2)\n}\n"
    )
    fine = circuit + "axis batch, m = 16\nmodel M(x: [batch, m]) -> [batch, m] { return S[h=m, k=3](x) }\n"
    assert ncdl.loads(fine, "lib.ncd").models == ["M"]
    bad = circuit + "axis batch, m = 1\nmodel M(x: [batch, m]) -> [batch, m] { return S[h=m, k=3](x) }\n"
    assert _errors(bad) == [
        "lib.ncd:2:17: error[E128]: -9.21034 / 0 is undefined\n"
        " 2 |     return x * (-log(10000) / (h - 1)) + log(k - 1) + 1 / (2 * h - 2)\n"
        "   |                 ^^^^^^^^^^^^^^^^^^^^^\n"
        "  note: in 'S', called at lib.ncd:5:47",
        "lib.ncd:2:55: error[E128]: 1 / 0 is undefined\n"
        " 2 |     return x * (-log(10000) / (h - 1)) + log(k - 1) + 1 / (2 * h - 2)\n"
        "   |                                                       ^^^^^^^^^^^^^^^\n"
        "  note: in 'S', called at lib.ncd:5:47",
    ]


def test_a_constant_mistake_in_a_circuit_is_still_found_at_its_definition() -> None:
    source = "circuit S[h](x: [h]) -> [h] {\n    return x * (h / (2 - 2))\n}\n"
    assert [e.splitlines()[0] for e in _errors(source)] == ["lib.ncd:2:17: error[E128]: 1 / 0 is undefined"]

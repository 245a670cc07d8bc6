"""Hostile input ends in a diagnostic within a second: never a hang, a
RecursionError or a MemoryError."""

from __future__ import annotations

import random
import time

import pytest

import ncdl
from ncdl.dsl.source import decode_source

HEAD = "axis n = 4\n"


def diagnose(source: str | bytes) -> ncdl.NcdlError:
    start = time.perf_counter()
    with pytest.raises(ncdl.NcdlError) as info:
        text = decode_source(source, "h.ncd") if isinstance(source, bytes) else source
        ncdl.loads(text, "h.ncd")
    assert time.perf_counter() - start < 1.0
    return info.value


def test_random_bytes() -> None:
    data = random.Random(0).randbytes(1 << 20)
    assert diagnose(data).diagnostics[0].code == "E004"


def test_random_printable_text() -> None:
    rng = random.Random(1)
    text = "".join(rng.choice("abc xyz()[]{}=+-*/,:->;#\n0123456789") for _ in range(1 << 20))
    assert diagnose(text).diagnostics[0].code in {"E001", "E005"}


def test_nul_byte() -> None:
    (d,) = diagnose(HEAD + "model M(x: [n]) -> [n] { return\0 x }").diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E004", 2, 32)


def test_ten_thousand_nested_parentheses() -> None:
    source = HEAD + "model M(x: [n]) -> [n] { return " + "(" * 10_000 + "x" + ")" * 10_000 + " }"
    (d,) = diagnose(source).diagnostics
    assert d.code == "E005" and d.message == "nesting deeper than 64 levels"


def test_long_flat_expression_is_fine() -> None:
    source = HEAD + "model M(x: [n]) -> [n] { return " + " + ".join(["x"] * 300) + " }"
    assert ncdl.loads(source).models == ["M"]


def test_very_long_expression_is_a_diagnostic() -> None:
    source = HEAD + "model M(x: [n]) -> [n] { return " + " + ".join(["x"] * 20_000) + " }"
    assert diagnose(source).diagnostics[0].code == "E153"


def test_huge_repeat() -> None:
    source = HEAD + "model M(x: [n]) -> [n] { repeat 1000000000 { x = relu(x) } return x }"
    assert diagnose(source).diagnostics[0].code == "E151"


def test_huge_axis() -> None:
    assert diagnose("axis n = 1000000000000000\nmodel M(x: [n]) -> [n] { return x }").diagnostics[0].code == "E107"


def test_empty_file() -> None:
    (d,) = diagnose("").diagnostics
    assert (
        str(d)
        == "h.ncd:1:1: error[E006]: the file is empty\n 1 | \n   | ^\n  help: declare axes and a model: see docs/language.md"
    )


def test_not_utf8() -> None:
    (d,) = diagnose(b"axis n = 4\n# caf\xe9\n").diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E004", 2, 6)
    assert d.message == "the file is not UTF-8 text (byte 0xe9)"


def test_deep_recursion_of_circuits() -> None:
    source = (
        HEAD
        + "circuit F[k: int](x: [n]) -> [n] { return F[k = k + 1](x) }\nmodel M(x: [n]) -> [n] { return F[k = 0](x) }"
    )
    assert diagnose(source).diagnostics[0].code == "E154"


def test_exponential_fanout_is_bounded() -> None:
    # each level calls the next twice: 2**30 boxes if nothing stopped it
    source = HEAD + (
        "circuit F[k: int](x: [n]) -> [n] { if k > 0 { return F[k = k - 1](x) + F[k = k - 1](x) } else { return relu(x) } }\n"
        "model M(x: [n]) -> [n] { return F[k = 30](x) }"
    )
    start = time.perf_counter()
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "h.ncd")
    assert info.value.diagnostics[0].code == "E152"
    assert time.perf_counter() - start < 120  # 250,000 boxes, then the limit

"""Hostile input ends in a diagnostic: never a hang, a RecursionError or a
MemoryError.

What bounds the checker's time is its work budget (:mod:`ncdl.dsl.budget`),
counted in units that do not depend on the machine: each test asserts the
work a hostile program spent, so a regression shows as a count, not as a
flaky timing. A generous alarm guards against real hangs only (the parser
spends no budget); speed is tracked in benchmarks/, not here.
"""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Iterator

import pytest

import ncdl
from ncdl.dsl import budget
from ncdl.dsl.source import decode_source

HEAD = "axis n = 4\n"

#: Seconds after which a check counts as hung: far above any speed the benchmarks track.
HANG = 120


class Hung(Exception):
    """The check ran past :data:`HANG` seconds."""


@contextlib.contextmanager
def no_hang() -> Iterator[list[int]]:
    """Fail a check that runs past :data:`HANG` seconds; yield the work units it spent."""
    spent = [0]
    real = budget.Budget.spend

    def spy(self: budget.Budget, units: int) -> bool:
        over = real(self, units)
        spent[0] = max(spent[0], self.spent)
        return over

    def alarm(*_: object) -> None:
        raise Hung(f"the check ran past {HANG} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG)
    budget.Budget.spend = spy  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        budget.Budget.spend = real  # type: ignore[method-assign]
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def diagnose(source: str | bytes, *, most_work: int = 10_000) -> ncdl.NcdlError:
    """The error of a hostile program, which spends at most ``most_work`` units of the budget."""
    with no_hang() as spent, pytest.raises(ncdl.NcdlError) as info:
        text = decode_source(source, "h.ncd") if isinstance(source, bytes) else source
        ncdl.loads(text, "h.ncd")
    assert spent[0] <= most_work
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
    with no_hang() as spent, pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "h.ncd")
    # the calls (50 units each) spend the work budget before the box limit (E152) is reached
    assert [d.code for d in info.value.diagnostics] == ["E200"]
    assert budget.MAX_WORK < spent[0] <= budget.MAX_WORK + budget.CALL_WORK + budget.BOX_WORK + 100

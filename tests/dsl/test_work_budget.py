"""The checker's work budget (E200) and bounded sizes (E201): programs that
once ran for minutes, or without end, get a located diagnostic. Each
assertion is on the diagnostic or on the work counted, never on a clock."""

from __future__ import annotations

import pytest

import ncdl
from ncdl.dsl import ast, budget, replay
from ncdl.dsl.elaborate import Elaborator
from ncdl.dsl.parse import parse
from ncdl.ir.graph import all_params
from ncdl.ir.sizes import MAX_SIZE_NODES, Size, SizeTooLarge


def diagnose(source: str) -> ncdl.NcdlError:
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(source, "w.ncd")
    return info.value


def spent_by(source: str) -> int:
    """The work units a successful check of ``source`` spends."""
    spent: list[int] = []
    real = budget.Budget.spend

    def spy(self: budget.Budget, units: int) -> bool:
        over = real(self, units)
        spent[:] = [self.spent]
        return over

    budget.Budget.spend = spy  # type: ignore[method-assign]
    try:
        ncdl.loads(source, "w.ncd")
    except ncdl.NcdlError:
        pass  # the units spent up to the stop
    finally:
        budget.Budget.spend = real  # type: ignore[method-assign]
    return spent[0]


def test_nested_empty_repeats_stop_at_the_budget() -> None:
    source = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    repeat 10000 { repeat 10000 { repeat 10000 { x = x } } }\n    return x\n}\n"
    (d,) = diagnose(source).diagnostics
    assert str(d) == (
        "w.ncd:3:50: error[E200]: checking stops here: the program needs more than 1,000,000 steps to unroll"
        " (the work budget)\n"
        " 3 |     repeat 10000 { repeat 10000 { repeat 10000 { x = x } } }\n"
        "   |                                                  ^^^^^\n"
        "  help: unroll less: use fewer or smaller repeats, or a circuit recursion that calls itself once per level"
    )


TWICE = (
    "axis n = 4\n"
    "circuit F[k: int](x: [n]) -> [n] {\n"
    "    if k > 0 {\n"
    "        y = F[k = k - 1](x)\n"
    "        return F[k = k - 1](y)\n"
    "    }\n"
    "    return x\n"
    "}\n"
    "model M(x: [n]) -> [n] { return F[k = 61](x) }\n"
)


def test_a_circuit_calling_itself_twice_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2^61 calls, each under the call-depth limit and none making a box; a small
    # budget shows the same stop as the real one, in a fraction of the work
    monkeypatch.setattr(budget, "MAX_WORK", 20_000)
    (d,) = diagnose(TWICE).diagnostics
    assert str(d) == (
        "w.ncd:5:16: error[E200]: checking stops here: the program needs more than 20,000 steps to unroll"
        " (the work budget)\n"
        " 5 |         return F[k = k - 1](y)\n"
        "   |                ^\n"
        "  note: in 'F', called at w.ncd:5:16\n"
        "  note: in 'F', called at w.ncd:4:13\n"
        "  note: in 'F', called at w.ncd:9:33\n"
        "  help: unroll less: use fewer or smaller repeats, or a circuit recursion that calls itself once per level"
    )


def statements_run(source: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many statements the checker really runs on ``source`` (charged ones not counted)."""
    count = [0]
    real = Elaborator.run_stmt

    def counting(self: Elaborator, stmt: object, env: object) -> None:
        count[0] += 1
        real(self, stmt, env)  # type: ignore[arg-type]

    monkeypatch.setattr(Elaborator, "run_stmt", counting)
    with pytest.raises(ncdl.NcdlError):
        ncdl.loads(source, "w.ncd")
    monkeypatch.setattr(Elaborator, "run_stmt", real)
    return count[0]


def test_work_that_changes_nothing_is_charged_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # the full budget: 1,000,000 units are charged, a few hundred statements run
    nested = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    repeat 10000 { repeat 10000 { repeat 10000 { x = x } } }\n    return x\n}\n"
    assert statements_run(nested, monkeypatch) < 1_000
    assert statements_run(TWICE, monkeypatch) < 1_000
    # an index the body never reads changes nothing either
    indexed = nested.replace("repeat 10000 {", "repeat i in 10000 {", 1)
    assert statements_run(indexed, monkeypatch) < 1_000


def test_a_body_that_may_read_its_index_runs_every_iteration() -> None:
    def program(body: str) -> str:
        return (
            "axis n = 4\ncircuit F[i: int](x: [n]) -> [n] { return x }\n"
            f"model M(x: [n]) -> [n] {{\n    repeat i in 3 {{ {body} }}\n    return x\n}}\n"
        )

    def repeat_of(text: str) -> tuple[ast.Repeat, dict[str, ast.CircuitDecl]]:
        circuits = parse(text, "w.ncd").circuits
        model = next(d for d in circuits if d.is_model)
        return model.body[0], {d.name: d for d in circuits}

    for body, reads in [("x = x", False), ("if i > 0 { x = x }", True), ("x = F(x)", True), ("x = F[i = 1](x)", True)]:
        assert replay.reads_index(*repeat_of(program(body))) is reads, body


def test_charged_work_is_the_work_of_a_full_run(monkeypatch: pytest.MonkeyPatch) -> None:
    nested = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    repeat 30 { y = x\n repeat 40 { x = x } }\n    return x\n}\n"
    twice = TWICE.replace("k = 61", "k = 6")
    charged = [spent_by(nested), spent_by(twice)]
    monkeypatch.setattr(replay.Iteration, "fixpoint", lambda *_: False)
    monkeypatch.setattr(replay.CallMemo, "replay", lambda *_: None)
    assert [spent_by(nested), spent_by(twice)] == charged


def test_a_replayed_call_takes_its_instance_name() -> None:
    # the second F[k = 0] is replayed; it still takes the name f_1, so the third call's weights are f_2's
    source = (
        "axis n = 4\n"
        "circuit F[k: int](x: [n]) -> [n] {\n    if k > 0 { return linear[n -> n](x) }\n    return x\n}\n"
        "model M(x: [n]) -> [n] {\n    a = F[k = 0](x)\n    b = F[k = 0](a)\n    return F[k = 1](b)\n}\n"
    )
    g = ncdl.loads(source, "w.ncd").graph("M")
    assert [p["name"] for p in all_params(g)] == ["f_2.linear.weight", "f_2.linear.bias"]
    assert sorted(g.graph["circuits"]) == ["f", "f_1", "f_2"]


def test_the_budget_is_shared_by_every_model_and_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_WORK", 5_000)
    source = "axis n = 4\n" + "".join(
        f"model M{i}(x: [n]) -> [n] {{\n    repeat 1000 {{ x = relu(x) }}\n    return x\n}}\n" for i in range(3)
    )
    assert [(d.code, d.span.line) for d in diagnose(source).diagnostics] == [("E200", 3)]


def test_work_is_linear_in_what_is_unrolled() -> None:
    def program(count: int) -> str:
        return f"axis n = 4\nmodel M(x: [n]) -> [n] {{\n    repeat {count} {{ x = relu(x) }}\n    return x\n}}\n"

    small, large = spent_by(program(100)), spent_by(program(1000))
    assert 9 * small < large < 11 * small


def test_doubling_sizes_are_a_diagnostic() -> None:
    lines = ["axis y", "axis a0 = y"] + [f"axis a{i + 1} = a{i} // 2 + a{i} // 3" for i in range(25)]
    source = "\n".join(lines) + "\nmodel M(x: [y]) -> [y] { return x }\n"
    # a broken axis restarts as a symbol of its own, so the doubling is reported again 9 lines on
    first, second = diagnose(source).diagnostics
    assert (second.code, second.span.line) == ("E201", 20)
    assert str(first) == (
        "w.ncd:11:11: error[E201]: a size here grows past 2,000 terms\n"
        " 11 | axis a9 = a8 // 2 + a8 // 3\n"
        "    |           ^^^^^^^^^^^^^^^^^\n"
        "  help: sizes that each use the one before twice (`a // 2 + a // 3`) double their terms:"
        " give the axis a fixed size"
    )


def test_a_chain_of_strided_convolutions_keeps_one_floor() -> None:
    lines = ["axis batch, y", "axis c = 2", "model M(x: [batch, y, c]) -> [batch, y20, c] {", "    h0 = x"]
    for i in range(20):
        src = "y" if i == 0 else f"y{i}"
        lines.append(f"    h{i + 1} = conv[c -> c, {src} -> y{i + 1}](h{i}, kernel=4, stride=2, padding=1)")
    program = ncdl.loads("\n".join([*lines, "    return h20", "}"]) + "\n", "w.ncd")
    size = program.graph("M").graph["axes"]["y20"].size
    assert str(size) == "floor((y)/1048576)"
    assert size.nodes == 4  # a term, its floor, and the floor's term and symbol


def test_size_normal_form_folds_nested_floors() -> None:
    y = Size.symbol("y")
    assert ((y + -2) // 2 + -1) // 2 == y // 4 - 1
    assert (2 * y + -4) // 4 == y // 2 - 1
    assert str(((y + -1) // 2 + 1 + 2 - 3) // 2 + 1) == "floor((y + -1)/4) + 1"
    assert ((y // 3 + 1) // 2).evaluate({"y": 10}) == (10 // 3 + 1) // 2


def test_a_size_over_the_node_limit_raises() -> None:
    terms = [Size.symbol(f"a{i}") for i in range(MAX_SIZE_NODES)]
    big = terms[0]
    with pytest.raises(SizeTooLarge):
        for t in terms[1:]:
            big = big + t
    wide = terms[0]
    for t in terms[1:60]:
        wide = wide + t
    with pytest.raises(SizeTooLarge):
        _ = wide * wide


def test_a_condition_costs_in_proportion_to_its_size() -> None:
    # an index comparison in 10^8 iterations: each run of the `if` is charged for its condition,
    # so the budget stops it in about a second, not after tens of seconds
    source = (
        "axis n = 4\nmodel M(x: [n]) -> [n] {\n"
        "    repeat i in 10000 { repeat j in 10000 { if i == j + 20000 { x = relu(x) } } }\n    return x\n}\n"
    )
    spent = spent_by(source)
    assert budget.MAX_WORK < spent <= budget.MAX_WORK + 100
    iterations = spent // (2 + budget.CONDITION_WORK * 5)  # the iteration, the `if`, its five nodes
    assert iterations < 50_000


def test_the_box_limit_can_be_raised_for_a_larger_graph() -> None:
    source = "axis n = 4\nmodel M(x: [n]) -> [n] {\n    repeat 2 { repeat 10000 { x = relu(x) } }\n    return x\n}\n"
    (d,) = diagnose(source).diagnostics
    assert str(d).splitlines()[0] == f"w.ncd:3:35: error[E152]: the model grows past {budget.MAX_BOXES:,} boxes"
    program = ncdl.loads(source, "w.ncd", max_boxes=30_000)
    assert program.graph().number_of_nodes() == 20_002
    assert program.with_params("M").graph().number_of_nodes() == 20_002  # later checks keep the limit


def test_the_command_line_raises_the_box_limit(tmp_path: pytest.TempPathFactory) -> None:
    import subprocess
    import sys

    path = tmp_path / "big.ncd"  # type: ignore[operator]
    path.write_text(
        "axis n = 4\nmodel M(x: [n]) -> [n] {\n    repeat 2 { repeat 10000 { x = relu(x) } }\n    return x\n}\n"
    )
    run = [sys.executable, "-c", "import sys; from ncdl.cli import main; sys.exit(main())", "check", str(path)]
    refused = subprocess.run(run, capture_output=True, text=True)
    assert refused.returncode == 1 and "error[E152]: the model grows past 15,000 boxes" in refused.stderr
    assert "`--max-boxes`" in refused.stderr
    raised = subprocess.run([*run, "--max-boxes", "30000"], capture_output=True, text=True)
    assert raised.returncode == 0, raised.stderr
    bad = subprocess.run([*run, "--max-boxes", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--max-boxes: 0 is less than 1" in bad.stderr

"""Work the checker charges without redoing: fixpoint iterations and repeated pure calls.

The work budget (:mod:`ncdl.dsl.budget`) counts the units a full unrolling
spends. Some programs spend them without changing anything: a ``repeat``
iteration that makes no box and rebinds no name (``repeat 10000 { x = x }``,
with no index or one the body never reads), or a circuit call that makes no box, made again with the same arguments (a
circuit calling itself twice per level). Running such work again would leave
the same state and spend the same units, so the checker charges the units
and skips the run. A program therefore spends exactly the units it would
unrolled in full, and when the budget runs out, the iteration or call that
crosses the limit is run for real, so E200 stops at the same statement with
the same call notes. Time follows what is run, not what is charged.

The only trace of what is skipped is in the bookkeeping of box-less paths: the
instances nested inside a replayed call (``g.graph["circuits"]``,
``g.graph["repeats"]``) are recorded for its first run only. The replayed
call's own instance path is taken as usual, so names around it do not shift.

Example: after one iteration of ``x = x`` that spent 2 units, 9,999 more
iterations are charged at once (as many as fit in the budget).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from ncdl.dsl import ast
from ncdl.dsl.budget import Budget
from ncdl.dsl.diagnostics import Span
from ncdl.dsl.values import Env, Result, Value


class Checker(Protocol):
    """What replaying needs of the elaborator (:class:`ncdl.dsl.elaborate.Elaborator`)."""

    budget: Budget
    used_paths: set[str]
    generic: bool
    expr_depth: int

    def state_sizes(self) -> tuple[int, ...]:
        """The sizes of what elaborating can add to across the model."""
        ...


def reads_index(stmt: ast.Repeat, circuits: dict[str, ast.CircuitDecl]) -> bool:
    """Whether a ``repeat``'s body may read its index: it writes the name anywhere
    (a string or an option value of that name counts too), or calls a circuit
    with a parameter of that name (a parameter a call leaves out takes the
    caller's value of the same name). A body that does not is the same in
    every iteration, so its fixpoints may be skipped as without an index."""
    name = stmt.index
    if name is None:
        return False
    stack: list[Any] = list(stmt.body)
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if x == name:
                return True
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif dataclasses.is_dataclass(x) and not isinstance(x, Span):
            if isinstance(x, ast.Call) and any(p.name == name for p in getattr(circuits.get(x.func), "params", ())):
                return True
            stack.extend(getattr(x, f.name) for f in dataclasses.fields(x))
    return False


@dataclass
class Iteration:
    """What one ``repeat`` iteration started from, to tell whether it changed anything."""

    state: tuple[int, ...]
    paths: int
    values: dict
    spent: int

    @classmethod
    def start(cls, el: Checker, env: Env) -> Iteration:
        """Note the state before an iteration."""
        return cls(el.state_sizes(), len(el.used_paths), dict(env.values), el.budget.spent)

    def fixpoint(self, el: Checker, env: Env) -> bool:
        """True when the iteration just run made nothing (no box, path or
        diagnostic) and left every name bound to what it was."""
        if env.returned is not None or el.state_sizes() != self.state or len(el.used_paths) != self.paths:
            return False
        values = env.values
        return len(values) == len(self.values) and all(values.get(k) is v for k, v in self.values.items())

    def charge_more(self, el: Checker, remaining: int) -> int:
        """Charge up to ``remaining`` more iterations like the last one, as many
        as the budget holds; return how many (the loop skips them)."""
        units = el.budget.spent - self.spent
        fits = (el.budget.limit - el.budget.spent) // units if units > 0 else remaining
        skip = max(0, min(remaining, fits))
        el.budget.spend(skip * units)
        return skip


@dataclass
class _Pure:
    """A call that made nothing: its units and its result."""

    units: int
    result: Result


class CallMemo:
    """Calls that made no box, by (circuit, depth, parameters, arguments)."""

    def __init__(self) -> None:
        self.calls: dict[tuple, _Pure] = {}

    @staticmethod
    def key(el: Checker, callee: Env) -> tuple | None:
        """What a call's run depends on; None when it may depend on more
        (generic checking, ties, axes the caller waits for, local axes)."""
        if el.generic or callee.pending or callee.ties or callee.local_axes:
            return None
        if not all(isinstance(v, Value) for v in callee.values.values()):
            return None
        return (
            callee.circuit.name if callee.circuit else "",
            callee.depth,
            el.expr_depth,
            tuple(callee.ints.items()),
            tuple(callee.floats.items()),
            tuple(callee.bools.items()),
            tuple(callee.axis_env.items()),
            tuple(sorted(callee.absent)),
            tuple(callee.values.items()),
        )

    def replay(self, el: Checker, key: tuple | None) -> Result | None:
        """The result of an earlier identical pure call, its units charged;
        None to run it (no such call, or its units would cross the limit:
        then the real run stops at the right statement)."""
        pure = self.calls.get(key) if key is not None else None
        if pure is None or el.budget.spent + pure.units > el.budget.limit:
            return None
        el.budget.spend(pure.units)
        return pure.result

    @staticmethod
    def start(el: Checker) -> tuple[tuple[int, ...], int]:
        """Note the state before a call's body runs."""
        return el.state_sizes(), el.budget.spent

    def remember(
        self, el: Checker, key: tuple | None, before: tuple[tuple[int, ...], int], callee: Env, result: Result
    ) -> None:
        """Keep the call's result if it made nothing (no box, axis or diagnostic)."""
        state, spent = before
        if key is None or el.state_sizes() != state or callee.local_axes or callee.pending:
            return
        results = result if isinstance(result, tuple) else (result,)
        if all(isinstance(r, Value) for r in results):
            self.calls[key] = _Pure(el.budget.spent - spent, result)

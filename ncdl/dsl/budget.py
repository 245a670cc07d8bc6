"""The checker's work budget: a deterministic bound on how long a check runs.

Per-statement limits (repeat count, call depth, box count, expression depth)
do not bound the total: three nested ``repeat 10000 { x = x }`` make no box
and stay under every one of them, yet would run 10^12 statements. So the
checker also counts its work in units that do not depend on the machine or
its load, all models and circuits of one check together:

* one unit per statement run and per ``repeat`` iteration (an expression
  costs in proportion to its source text, which the file size bounds, except
  for what it makes: the boxes and calls below);
* :data:`CALL_WORK` units per circuit call inlined;
* :data:`BOX_WORK` units per box made, plus the atoms and terms of its axes'
  sizes (:attr:`ncdl.ir.sizes.Size.nodes`), and the atoms and terms of each
  size expression evaluated, since size arithmetic costs in proportion to them.

The weights follow measured cost (a box costs about ten empty statements,
an inlined call with its bookkeeping about 150, an ``if`` about four per node
of its condition), so that the budget bounds time whatever the program
spends it on: a unit is about 1-3 us, so the budget answers within about 2 s
(``benchmarks/check_bench.py hostile``).

Work that changes nothing (a fixpoint ``repeat`` iteration, a box-less call
made again with the same arguments) is charged without being run
(:mod:`ncdl.dsl.replay`), so such programs reach the limit in little time.

When the total passes :data:`MAX_WORK`, checking stops with E200 at the
statement that was running, naming the calls that led there. The limit is
set above what the box limit (E152, :data:`MAX_BOXES` boxes of a few axes) needs,
so that a program of boxes meets E152 first and the budget stops what makes few
boxes but unrolls without end (``benchmarks/check_bench.py``, BENCHMARKS.md).

Example::

    >>> budget = Budget(limit=10)
    >>> budget.spend(4), budget.spend(7)
    (False, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Most units of work one check may spend (see the module doc).
MAX_WORK = 1_000_000
#: Most boxes in one model (E152) unless the caller raises the limit (:func:`box_limit`). A check
#: costs 60-110 us per box, so the default keeps every answer within about 2 s; the largest
#: bundled model (Llama 3 8B) has 1,106 boxes, a 126-layer transformer about 4,500.
MAX_BOXES = 15_000
#: Units of work allowed per box when the box limit is raised, so that boxes still meet E152 first.
WORK_PER_BOX = 200

_RAISED: ContextVar[int | None] = ContextVar("ncdl_max_boxes", default=None)


def max_boxes() -> int:
    """The box limit (E152) of the check running now."""
    raised = _RAISED.get()
    return MAX_BOXES if raised is None else raised


def max_work() -> int:
    """The work limit (E200) of the check running now: :data:`MAX_WORK`, or more with a raised box limit."""
    raised = _RAISED.get()
    return MAX_WORK if raised is None else max(MAX_WORK, raised * WORK_PER_BOX)


@contextmanager
def box_limit(boxes: int | None) -> Iterator[None]:
    """Check with ``boxes`` as the box limit and a work budget to match (None: the defaults).

    For graphs far larger than any model (benchmarks, generated stress tests); such a check
    takes about 0.1 ms per box.
    """
    if boxes is None:
        yield
        return
    if boxes < 1:
        raise ValueError(f"a box limit must be at least 1, not {boxes}")
    token = _RAISED.set(boxes)
    try:
        yield
    finally:
        _RAISED.reset(token)


#: Units per circuit call inlined.
CALL_WORK = 150
#: Units per box made (its axes' size terms come on top).
BOX_WORK = 10

#: Units per node of an ``if`` condition, evaluated at every run of the statement.
CONDITION_WORK = 4

#: What E200 tells the author to do.
WORK_HINT = "unroll less: use fewer or smaller repeats, or a circuit recursion that calls itself once per level"


class Budget:
    """A counter of work units with a limit; one per check, shared by every elaborator in it."""

    __slots__ = ("limit", "spent")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max_work() if limit is None else limit
        self.spent = 0

    def spend(self, units: int) -> bool:
        """Add ``units``; True once the total is over the limit."""
        self.spent += units
        return self.spent > self.limit

    @property
    def exhausted(self) -> bool:
        """True once the total is over the limit."""
        return self.spent > self.limit


def tree_size(node: object) -> int:
    """The number of syntax-tree nodes in ``node`` (a dataclass of :mod:`ncdl.dsl.ast`), spans not counted."""
    fields = getattr(node, "__dataclass_fields__", None)
    if fields is None:
        return sum(tree_size(item) for item in node) if isinstance(node, list) else 0
    return 1 + sum(tree_size(getattr(node, name)) for name in fields if name != "span")

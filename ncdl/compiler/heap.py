"""Lowering without walking, again and again, every object alive.

Python's cyclic garbage collector makes a full collection each time the
objects made since the last one reach a quarter of those alive (and ten
collections of the younger generations have passed), and a full collection
walks every tracked object. Compiling or exporting a model of many boxes
makes millions of objects that stay alive (modules, fx nodes, ONNX nodes),
so torch, the checked program, its IR and the growing result were walked
again and again: at 20,000 boxes that was a third of the time of compiling
and half of that of exporting (BENCHMARKS.md §11).

:func:`frozen_heap` moves what exists into the collector's permanent
generation (``gc.freeze``) and makes full collections a hundred times rarer
for the time of one lowering. The younger generations are collected as
usual, so short-lived cycles are freed as before; a cycle that lives long
enough to reach the oldest generation (a pass's copy of the IR) waits for
the end of the lowering.

Example::

    >>> with frozen_heap():
    ...     gm = build_many_modules()
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: How many collections of the middle generation come before a full one may run (Python's default: 10).
RARE_FULL = 1_000


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects alive now out of garbage collection, and collect the oldest generation
    rarely, until the block ends.

    Does nothing when the collector is off or something else has frozen
    objects (``gc.unfreeze`` would release those too), so also inside
    another ``frozen_heap``.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], RARE_FULL))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()

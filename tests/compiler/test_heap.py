"""Lowering pauses the full garbage collections (``ncdl.compiler.heap``) and leaves the collector as it found it."""

from __future__ import annotations

import gc

from ncdl.compiler.heap import RARE_FULL, frozen_heap


def test_frozen_heap_restores_the_collector() -> None:
    before = gc.get_threshold()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == max(before[2], RARE_FULL)
        with frozen_heap():  # nested: leaves the outer one's state alone
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_frozen_heap_leaves_a_stopped_collector_alone() -> None:
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0 and not gc.isenabled()
    finally:
        gc.enable()

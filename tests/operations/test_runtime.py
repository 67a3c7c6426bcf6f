"""`runtime.settle_heap`: what `loyalist demo` does between generating and serving."""

from __future__ import annotations

import gc

from loyalist.runtime import settle_heap


def test_settling_moves_the_survivors_out_of_the_collectors_sight() -> None:
    survivor = [object() for _ in range(1000)]
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(survivor)
        assert gc.get_count()[0] < 100  # the young generation starts empty after the collection
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0

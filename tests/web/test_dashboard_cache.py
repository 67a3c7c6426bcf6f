"""The dashboard's figures: warmed at start-up and refreshed in the background, so that no view
waits for the analytics after the server has started (page budget 300 ms)."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from loyalist.config import get_settings
from loyalist.web import metrics


def _cached(key: str, *, other_than: object = None, timeout: float = 120.0) -> metrics.Dashboard:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with metrics._lock:
            hit = metrics._cache.get(key)
        if hit is not None and hit[1] is not other_than:
            return hit[1]
        time.sleep(0.05)
    raise AssertionError("the background computation did not finish")


def test_warmed_figures_are_served_and_stale_ones_refreshed_behind_the_view(engine) -> None:
    metrics.clear_cache()
    point_value = get_settings().point_value
    key = str(engine.url)
    try:
        metrics.warm_in_background(engine, point_value)
        warmed = _cached(key)
        with Session(engine) as s:
            assert metrics.dashboard(s, cache_key=key, point_value=point_value) is warmed
            with metrics._lock:  # the figures grow old
                metrics._cache[key] = (time.monotonic() - metrics.TTL_SECONDS - 1, warmed)
            # answered at once with the old figures (they say when they were computed) ...
            assert metrics.dashboard(s, cache_key=key, point_value=point_value) is warmed
        # ... while a background thread computes new ones for the next view
        fresh = _cached(key, other_than=warmed)
        assert fresh.computed_at >= warmed.computed_at
        with Session(engine) as s:
            assert metrics.dashboard(s, cache_key=key, point_value=point_value) is fresh
            # "Recompute now" computes in the request
            again = metrics.dashboard(s, cache_key=key, point_value=point_value, refresh=True)
            assert again is fresh or again.computed_at >= fresh.computed_at
    finally:
        metrics.clear_cache()

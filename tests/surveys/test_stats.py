"""NPS and CSAT arithmetic against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from loyalist.surveys import stats


def test_z_value_for_95_percent() -> None:
    assert stats.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_nps_categories_at_the_boundaries() -> None:
    assert [stats.nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor", "detractor", "passive", "passive", "promoter", "promoter"]
    with pytest.raises(ValueError):
        stats.nps_category(11)


def test_nps_and_interval_hand_computed() -> None:
    # 10 answers: 5 promoters, 3 passives, 2 detractors.
    # NPS = 100 * (5 - 2) / 10 = 30.
    # p = 0.5, d = 0.2: var = p + d - (p - d)^2 = 0.7 - 0.09 = 0.61
    # half width = 1.96 * 100 * sqrt(0.61 / 10) = 196 * 0.246982 = 48.408 -> [-18.4, 78.4]
    nps, low, high = stats.nps_interval(5, 3, 2, z=1.96)
    assert (nps, low, high) == (30.0, -18.4, 78.4)
    assert 1.96 * 100 * math.sqrt(0.61 / 10) == pytest.approx(48.408, abs=1e-3)


def test_nps_interval_is_clipped_and_empty_is_none() -> None:
    assert stats.nps_interval(3, 0, 0, z=1.96) == (100.0, 100.0, 100.0)  # no variance
    assert stats.nps_interval(0, 0, 0, z=1.96) == (None, None, None)
    # 1 promoter, 1 detractor: NPS 0, var = 1, half = 196 * sqrt(1/2) = 138.6 -> clipped
    assert stats.nps_interval(1, 0, 1, z=1.96) == (0.0, -100.0, 100.0)


def test_csat_wilson_interval_hand_computed() -> None:
    # 8 of 10 satisfied, z = 1.96: z^2 = 3.8416
    # centre = (0.8 + 0.19208) / 1.38416 = 0.716738
    # half = 1.96 / 1.38416 * sqrt(0.016 + 0.0096040) = 1.416022 * 0.160012 = 0.226581
    # -> [49.0 %, 94.3 %]
    assert stats.wilson_interval(8, 10, z=1.96) == (80.0, 49.0, 94.3)
    assert stats.wilson_interval(0, 0, z=1.96) == (None, None, None)
    share, low, high = stats.wilson_interval(10, 10, z=1.96)
    assert (share, high) == (100.0, 100.0) and low == 72.2


def test_score_stats_counts() -> None:
    out = stats.score_stats([10, 9, 8, 3], [5, 4, 2], responses=5, z=1.96)
    assert out["nps_n"] == 4 and out["promoters"] == 2 and out["passives"] == 1 and out["detractors"] == 1
    assert out["nps"] == 25.0
    assert out["csat_n"] == 3 and out["csat_satisfied"] == 2 and out["csat"] == 66.7
    assert out["responses"] == 5

"""Uplift arithmetic against hand-computed examples (formulas written out)."""

from __future__ import annotations

import math

import pytest

from loyalist.campaigns import uplift


def test_difference_of_proportions_hand_computed():
    # treatment 30 of 200 bought, control 10 of 100:
    # p_t = 0.15, p_c = 0.10, d = 0.05
    # se = sqrt(0.15*0.85/200 + 0.10*0.90/100) = sqrt(0.0006375 + 0.0009) = sqrt(0.0015375) = 0.0392110
    # CI = 0.05 +- 1.959964 * 0.0392110 = 0.05 +- 0.0768522 -> [-0.0268522, 0.1268522]
    r = uplift.diff_of_proportions(30, 200, 10, 100)
    assert r.estimate == pytest.approx(0.05, abs=1e-12)
    assert r.se == pytest.approx(0.0392110, abs=1e-7)
    assert r.low == pytest.approx(-0.0268522, abs=1e-6)
    assert r.high == pytest.approx(0.1268522, abs=1e-6)


def test_welch_hand_computed():
    # treatment revenue per customer [10, 20, 30, 40]: mean 25, s^2 = (225+25+25+225)/3 = 166.667
    # control [0, 10, 20]: mean 10, s^2 = (100+0+100)/2 = 100
    # d = 15; a = 166.667/4 = 41.6667, b = 100/3 = 33.3333; se = sqrt(75) = 8.660254
    # df = 75^2 / (41.6667^2/3 + 33.3333^2/2) = 5625 / (578.704 + 555.556) = 5625 / 1134.259 = 4.959184
    # t(0.975, 4.959184) = 2.57696 (just above t_5 = 2.57058, df slightly under 5)
    # -> half-width 2.57696 * 8.660254 = 22.3171, CI [-7.3171, 37.3171]
    interval, df = uplift.welch([10, 20, 30, 40], [0, 10, 20])
    assert interval.estimate == pytest.approx(15.0)
    assert interval.se == pytest.approx(math.sqrt(75))
    assert df == pytest.approx(4.959184, abs=1e-5)
    half = interval.high - interval.estimate
    assert half == pytest.approx(interval.estimate - interval.low)
    assert half / interval.se == pytest.approx(2.57696, abs=1e-4)
    assert interval.low == pytest.approx(-7.3171, abs=1e-3)
    assert interval.high == pytest.approx(37.3171, abs=1e-3)
    assert 2.571 < half / interval.se < 2.776


def test_scaled_and_roi_hand_computed():
    # incremental revenue per customer 15 over 200 treated = 3000 total;
    # margin 0.4, cost 500: ROI = (3000 * 0.4 - 500) / 500 = 700 / 500 = 1.4
    per = uplift.Interval(15.0, 5.0, 25.0, 5.1)
    total = uplift.scaled(per, 200)
    assert (total.estimate, total.low, total.high) == (3000.0, 1000.0, 5000.0)
    assert uplift.roi(3000.0, 0.4, 500.0) == pytest.approx(1.4)
    assert uplift.roi(3000.0, 0.4, 0.0) is None


def test_degenerate_inputs():
    r = uplift.diff_of_proportions(0, 10, 0, 5)
    assert (r.estimate, r.low, r.high, r.se) == (0.0, 0.0, 0.0, 0.0)
    interval, df = uplift.welch([5, 5], [5, 5, 5])
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert df == math.inf
    with pytest.raises(ValueError):
        uplift.diff_of_proportions(1, 0, 0, 1)
    with pytest.raises(ValueError):
        uplift.diff_of_proportions(3, 2, 0, 1)

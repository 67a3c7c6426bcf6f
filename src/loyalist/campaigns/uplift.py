"""Incrementality arithmetic (pure: numbers in, numbers out).

Conversion (a proportion) — difference of two independent proportions, normal approximation:
    p_t = x_t / n_t,  p_c = x_c / n_c,  d = p_t - p_c
    se  = sqrt(p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c)        (unpooled: we estimate d, not test d=0)
    95 % CI = d +- z * se with z = 1.959964 (the 97.5 % normal quantile)
The approximation is poor for tiny groups or rates near 0/1; the result carries the group sizes
so a reader can judge, and `se` is 0 when both rates are 0 or 1 (the CI collapses to d).

Revenue per customer (a mean over ALL customers of the group, non-buyers counting 0) — Welch:
    d  = mean_t - mean_c,  se = sqrt(s_t^2 / n_t + s_c^2 / n_c)   (s^2 = sample variance, n-1)
    df = se^4 / ((s_t^2/n_t)^2/(n_t-1) + (s_c^2/n_c)^2/(n_c-1))   (Welch-Satterthwaite)
    95 % CI = d +- t_{0.975, df} * se
Incremental revenue (total) = d * n_t (what the treated group bought beyond what it would have
without the campaign), CI scaled the same way.

ROI = (incremental revenue * margin - cost) / cost; undefined (None) when cost is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats  # type: ignore[import-untyped]

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    se: float


def diff_of_proportions(x_t: int, n_t: int, x_c: int, n_c: int, *, z: float = Z_95) -> Interval:
    """Treatment minus control conversion rate with a normal-approximation CI."""
    if n_t <= 0 or n_c <= 0:
        raise ValueError("both groups need at least one customer")
    if not (0 <= x_t <= n_t and 0 <= x_c <= n_c):
        raise ValueError("conversions must be between 0 and the group size")
    p_t, p_c = x_t / n_t, x_c / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    d = p_t - p_c
    return Interval(d, d - z * se, d + z * se, se)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var


def welch(treatment: Sequence[float], control: Sequence[float], *, level: float = 0.95) -> tuple[Interval, float]:
    """Difference of means (treatment - control) with a Welch CI; returns (interval, df).

    With zero variance in both groups the CI collapses to the estimate (df reported as inf)."""
    n_t, n_c = len(treatment), len(control)
    if n_t < 1 or n_c < 1:
        raise ValueError("both groups need at least one value")
    m_t, v_t = _mean_var(treatment)
    m_c, v_c = _mean_var(control)
    a, b = v_t / n_t, v_c / n_c
    se = math.sqrt(a + b)
    d = m_t - m_c
    if se == 0:
        return Interval(d, d, d, 0.0), math.inf
    denom = (a * a / (n_t - 1) if n_t > 1 else 0.0) + (b * b / (n_c - 1) if n_c > 1 else 0.0)
    df = (a + b) ** 2 / denom if denom > 0 else math.inf
    crit = float(stats.t.ppf(0.5 + level / 2, df)) if math.isfinite(df) else Z_95
    return Interval(d, d - crit * se, d + crit * se, se), df


def scaled(interval: Interval, factor: float) -> Interval:
    """The same interval multiplied by a positive factor (per-customer -> total)."""
    return Interval(interval.estimate * factor, interval.low * factor, interval.high * factor, interval.se * factor)


def roi(incremental_revenue: float, margin: float, cost: float) -> float | None:
    """(incremental revenue x margin - cost) / cost; None when nothing was spent."""
    if cost <= 0:
        return None
    return (incremental_revenue * margin - cost) / cost

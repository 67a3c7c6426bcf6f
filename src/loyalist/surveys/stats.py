"""Score arithmetic for survey results (pure: no database, no I/O).

NPS. Each 0-10 answer becomes +1 (promoter, 9-10), 0 (passive, 7-8) or -1 (detractor, 0-6).
NPS = 100 * mean = 100 * (P - D) / n. Its confidence interval treats the mean of these scores
as approximately normal: with p = P/n and d = D/n the variance of one score is
    var = p + d - (p - d)^2          (E[x^2] - E[x]^2, population form)
and  NPS +- z * 100 * sqrt(var / n),  clipped to [-100, 100]; z from the confidence level
(1.96 for 95 %). With n = 0 there is no score and no interval.

CSAT. % satisfied = share of 1-5 answers that are 4 or 5. The interval is Wilson's score
interval, which behaves at small n and near 0 % / 100 % where the normal one does not:
    centre = (s + z^2/2n) / (1 + z^2/n),  half = z/(1 + z^2/n) * sqrt(s(1-s)/n + z^2/4n^2)
with s the satisfied share; reported in percent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 0.95 -> 1.959964."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def nps_category(score: int) -> str:
    if not 0 <= score <= 10:
        raise ValueError("an NPS answer is 0-10")
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def nps_interval(promoters: int, passives: int, detractors: int, *, z: float
                 ) -> tuple[float | None, float | None, float | None]:
    """(nps, low, high) in points of -100..100, rounded to 0.1; Nones when nobody answered."""
    n = promoters + passives + detractors
    if n == 0:
        return None, None, None
    p, d = promoters / n, detractors / n
    var = max(p + d - (p - d) ** 2, 0.0)
    nps = 100 * (p - d)
    half = z * 100 * math.sqrt(var / n)
    return round(nps, 1), round(max(nps - half, -100.0), 1), round(min(nps + half, 100.0), 1)


def wilson_interval(successes: int, n: int, *, z: float) -> tuple[float | None, float | None, float | None]:
    """(share %, low %, high %) rounded to 0.1; Nones when n = 0."""
    if n == 0:
        return None, None, None
    s = successes / n
    denom = 1 + z * z / n
    centre = (s + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(s * (1 - s) / n + z * z / (4 * n * n))
    return round(100 * s, 1), round(100 * max(centre - half, 0.0), 1), round(100 * min(centre + half, 1.0), 1)


def score_stats(nps_answers: Iterable[int], csat_answers: Iterable[int], *, responses: int,
                z: float) -> dict[str, int | float | None]:
    """The fields of `schemas.ScoreStats` for one group of answers."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in nps_answers:
        counts[nps_category(score)] += 1
    csat = list(csat_answers)
    satisfied = sum(1 for c in csat if c >= 4)
    nps, nps_low, nps_high = nps_interval(counts["promoter"], counts["passive"], counts["detractor"], z=z)
    share, c_low, c_high = wilson_interval(satisfied, len(csat), z=z)
    return {
        "responses": responses, "nps_n": sum(counts.values()), "promoters": counts["promoter"],
        "passives": counts["passive"], "detractors": counts["detractor"], "nps": nps, "nps_ci_low": nps_low,
        "nps_ci_high": nps_high, "csat_n": len(csat), "csat_satisfied": satisfied, "csat": share,
        "csat_ci_low": c_low, "csat_ci_high": c_high,
    }

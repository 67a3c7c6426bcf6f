"""RFM quintile scores and named segments, with counts, revenue and movement between dates.

Scores (1 = worst, 5 = best) are quintiles of the customer base at the scoring date:
- R from days since the last purchase (fewer days = higher score),
- F from the number of purchase days, M from net revenue.
Ties (most customers bought once) all get the quintile in which their value first appears, so
one-time buyers share F = 1 instead of being split arbitrarily.
Segments follow the usual R x F grid (see `SEGMENT_RULES`); M is kept in the score string.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.summary import summary_data

__all__ = ["SEGMENTS", "SEGMENT_RULES", "quintile_scores", "score_rfm", "rfm_table", "segment_summary",
           "segment_movement"]

SEGMENTS = ("champions", "loyal", "potential loyalists", "new", "promising", "need attention",
            "about to sleep", "at risk", "can't lose them", "hibernating", "lost")

# (segment, R scores, F scores): the first rule that matches wins.
SEGMENT_RULES: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential loyalists", (4, 5), (2, 3)),
    ("new", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need attention", (3,), (3,)),
    ("about to sleep", (3,), (1, 2)),
    ("can't lose them", (1, 2), (5,)),
    ("at risk", (1, 2), (3, 4)),
    ("lost", (1,), (1,)),
    ("hibernating", (1, 2), (1, 2)),
)


def quintile_scores(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """1..5 by the quintile where each value's first occurrence falls in the sorted order."""
    v = np.asarray(values, dtype="float64")
    n = v.size
    if n == 0:
        return np.zeros(0, dtype="int64")
    key = v if higher_is_better else -v
    rank_min = pd.Series(key).rank(method="min").to_numpy()  # 1-based
    return np.asarray((1 + np.floor(5 * (rank_min - 1) / n)).clip(1, 5), dtype=np.int64)


def _segment(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    out = np.full(r.size, "", dtype=object)
    for name, rs, fs in SEGMENT_RULES:
        hit = (out == "") & np.isin(r, rs) & np.isin(f, fs)
        out[hit] = name
    return out


def score_rfm(summary: pd.DataFrame, *, observation_end: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """From a full-period summary (see summary_data) to RFM columns per customer:
    customer_id, recency_days (days since last purchase), frequency (purchase days),
    monetary (net revenue, currency), r_score, f_score, m_score, rfm_score ("545"), segment."""
    if summary.empty:
        raise AnalyticsInputError("no customers to score")
    end = pd.Timestamp(observation_end).normalize()
    recency_days = (end - pd.to_datetime(summary["last_purchase"])).dt.days.to_numpy()
    frequency = summary["purchase_days"].to_numpy()
    monetary = summary["net_revenue"].to_numpy(dtype="float64")
    r = quintile_scores(recency_days, higher_is_better=False)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(), "recency_days": recency_days,
                        "frequency": frequency, "monetary": monetary, "r_score": r, "f_score": f, "m_score": m})
    out["rfm_score"] = (r * 100 + f * 10 + m).astype(str)
    out["segment"] = _segment(r, f)
    return out


def rfm_table(table: ibis.Table, *, customer_col: str = "customer_id", date_col: str = "occurred_at",
              value_col: str = "amount", observation_end: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """RFM scores from transactions up to `observation_end` (inclusive)."""
    summary = summary_data(table, customer_col=customer_col, date_col=date_col, value_col=value_col,
                           observation_end=observation_end)
    return score_rfm(summary, observation_end=observation_end)


def segment_summary(rfm: pd.DataFrame) -> pd.DataFrame:
    """Per segment (in SEGMENTS order): customers, share (0..1), revenue, revenue_share, mean recency/frequency."""
    g = rfm.groupby("segment").agg(customers=("customer_id", "size"), revenue=("monetary", "sum"),
                                   avg_recency_days=("recency_days", "mean"), avg_frequency=("frequency", "mean"))
    g = g.reindex(list(SEGMENTS)).fillna({"customers": 0, "revenue": 0.0})
    g["customers"] = g["customers"].astype("int64")
    total_c, total_r = max(int(g["customers"].sum()), 1), float(g["revenue"].sum()) or 1.0
    g["share"] = g["customers"] / total_c
    g["revenue_share"] = g["revenue"] / total_r
    return g.reset_index()


def segment_movement(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Counts of customers moving from segment (rows, `before`) to segment (columns, `after`).

    Customers absent at the earlier date appear in row "(not yet a customer)".
    """
    merged = after[["customer_id", "segment"]].merge(before[["customer_id", "segment"]], on="customer_id",
                                                     how="left", suffixes=("_after", "_before"))
    merged["segment_before"] = merged["segment_before"].fillna("(not yet a customer)")
    table = pd.crosstab(merged["segment_before"], merged["segment_after"])
    rows = [s for s in (*SEGMENTS, "(not yet a customer)") if s in table.index]
    cols = [s for s in SEGMENTS if s in table.columns]
    return table.reindex(index=rows, columns=cols, fill_value=0)

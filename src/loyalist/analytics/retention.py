"""Active customers, retention and churn per month / quarter / year (Ibis expressions).

Definitions (also printed in the report):
- A customer is *active in a period* when they made at least one purchase (value >= 0) in it.
- *Retention rate* of period P = customers active in both P-1 and P / customers active in P-1.
  *Churn rate* = 1 - retention rate: the share of last period's buyers who did not buy again.
- *New customers* of P are those whose first purchase falls in P.
- The last period is flagged `complete = False` when the observation end cuts it short; its
  rates are biased downwards and the report says so.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.summary import day_expr, to_day_number, validate_table

__all__ = ["PERIODS", "period_index", "period_label", "period_start", "customer_periods", "retention_rates",
           "coarsen_periods", "retention_from_periods"]

PERIODS = ("month", "quarter", "year")


def period_index(table: ibis.Table, date_col: str, period: str) -> ibis.Value:
    """Integer index of the calendar period of each row (months/quarters/years since year 0)."""
    ts = table[date_col]
    if period == "month":
        return (ts.year() * 12 + ts.month() - 1).cast("int64")
    if period == "quarter":
        return (ts.year() * 4 + (ts.month() - 1) // 3).cast("int64")
    if period == "year":
        return ts.year().cast("int64")
    raise AnalyticsInputError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def period_start(index: int, period: str) -> pd.Timestamp:
    if period == "month":
        return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)
    if period == "quarter":
        return pd.Timestamp(year=index // 4, month=(index % 4) * 3 + 1, day=1)
    return pd.Timestamp(year=index, month=1, day=1)


def period_label(index: int, period: str) -> str:
    if period == "month":
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    if period == "quarter":
        return f"{index // 4:04d}-Q{index % 4 + 1}"
    return f"{index:04d}"


def _index_of_date(day: pd.Timestamp, period: str) -> int:
    if period == "month":
        return int(day.year * 12 + day.month - 1)
    if period == "quarter":
        return int(day.year * 4 + (day.month - 1) // 3)
    return int(day.year)


def customer_periods(table: ibis.Table, *, customer_col: str, date_col: str, value_col: str,
                     observation_end: dt.date | str | pd.Timestamp, period: str = "month") -> ibis.Table:
    """Distinct (customer_id, p) pairs: the periods in which each customer bought."""
    validate_table(table, customer_col=customer_col, date_col=date_col, value_col=value_col)
    end_day = to_day_number(observation_end)
    t = table.mutate(_day=day_expr(table, date_col), _p=period_index(table, date_col, period))
    t = t.filter((t._day <= end_day) & (t[value_col] >= 0))
    return t.select(customer_id=t[customer_col], p=t._p).distinct()


def retention_rates(table: ibis.Table, *, customer_col: str = "customer_id", date_col: str = "occurred_at",
                    value_col: str = "amount", observation_end: dt.date | str | pd.Timestamp,
                    period: str = "month") -> pd.DataFrame:
    """One row per period with purchases: period, period_start, active_customers, new_customers,
    retained (active in this and the previous period), previous_active, retention_rate,
    churn_rate (fractions 0..1; NaN when nobody was active the period before), complete."""
    cp = customer_periods(table, customer_col=customer_col, date_col=date_col, value_col=value_col,
                          observation_end=observation_end, period=period)
    return retention_from_periods(cp, observation_end=observation_end, period=period)


def coarsen_periods(monthly: ibis.Table, period: str) -> ibis.Table:
    """Quarter or year (customer_id, p) pairs from month pairs, without re-reading transactions."""
    if period == "month":
        return monthly
    if period == "quarter":
        return monthly.select(customer_id=monthly.customer_id, p=(monthly.p // 3).cast("int64")).distinct()
    if period == "year":
        return monthly.select(customer_id=monthly.customer_id, p=(monthly.p // 12).cast("int64")).distinct()
    raise AnalyticsInputError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def retention_from_periods(cp: ibis.Table, *, observation_end: dt.date | str | pd.Timestamp,
                           period: str) -> pd.DataFrame:
    """`retention_rates` on precomputed distinct (customer_id, p) pairs."""
    active = cp.group_by("p").aggregate(active_customers=cp.customer_id.count())
    first = cp.group_by("customer_id").aggregate(p=cp.p.min())
    new = first.group_by("p").aggregate(new_customers=first.customer_id.count())
    nxt = cp.select(customer_id=cp.customer_id, p=cp.p + 1)
    kept = cp.join(nxt, [cp.customer_id == nxt.customer_id, cp.p == nxt.p]).select(p=cp.p)
    kept = kept.group_by("p").aggregate(retained=kept.p.count())
    a = active.execute()
    if a.empty:
        return pd.DataFrame(columns=["period", "period_start", "active_customers", "new_customers", "retained",
                                     "previous_active", "retention_rate", "churn_rate", "complete"])
    n = new.execute()
    k = kept.execute()
    lo, hi = int(a["p"].min()), int(a["p"].max())
    out = pd.DataFrame({"p": np.arange(lo, hi + 1)})
    out = out.merge(a, on="p", how="left").merge(n, on="p", how="left").merge(k, on="p", how="left")
    out = out.fillna({"active_customers": 0, "new_customers": 0, "retained": 0})
    for c in ("active_customers", "new_customers", "retained"):
        out[c] = out[c].astype("int64")
    out["previous_active"] = out["active_customers"].shift(1).fillna(0).astype("int64")
    prev = out["previous_active"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(prev > 0, out["retained"].to_numpy() / prev, np.nan)
    out["retention_rate"] = rate
    out["churn_rate"] = 1.0 - rate
    end = pd.Timestamp(observation_end).normalize()
    end_index = _index_of_date(end + pd.Timedelta(days=1), period)
    out["complete"] = out["p"] < end_index
    out["period"] = [period_label(int(i), period) for i in out["p"]]
    out["period_start"] = [period_start(int(i), period) for i in out["p"]]
    return out[["period", "period_start", "active_customers", "new_customers", "retained", "previous_active",
                "retention_rate", "churn_rate", "complete"]]

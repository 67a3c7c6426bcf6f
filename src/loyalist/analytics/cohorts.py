"""Cohort retention by first-purchase month (Ibis expression, pivoted in pandas).

A customer's cohort is the calendar month of their first purchase; cell (cohort, k) is the share
of the cohort that bought in the k-th month after the first one (k = 0 is the first month, 100%).
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from loyalist.analytics.retention import customer_periods, period_label

__all__ = ["cohort_table", "cohort_from_periods", "cohort_matrix"]


def cohort_table(table: ibis.Table, *, customer_col: str = "customer_id", date_col: str = "occurred_at",
                 value_col: str = "amount", observation_end: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """Long form: cohort (YYYY-MM), months_since_first (int), customers, cohort_size, retention (0..1)."""
    cp = customer_periods(table, customer_col=customer_col, date_col=date_col, value_col=value_col,
                          observation_end=observation_end, period="month")
    return cohort_from_periods(cp)


def cohort_from_periods(cp: ibis.Table) -> pd.DataFrame:
    """`cohort_table` on precomputed distinct (customer_id, p = month index) pairs."""
    first = cp.group_by("customer_id").aggregate(cohort=cp.p.min())
    joined = cp.join(first, cp.customer_id == first.customer_id).select(
        cohort=first.cohort, k=cp.p - first.cohort)
    counts = joined.group_by(["cohort", "k"]).aggregate(customers=joined.k.count()).execute()
    if counts.empty:
        return pd.DataFrame(columns=["cohort", "months_since_first", "customers", "cohort_size", "retention"])
    sizes = counts[counts["k"] == 0].set_index("cohort")["customers"]
    counts["cohort_size"] = counts["cohort"].map(sizes).astype("int64")
    counts["retention"] = counts["customers"] / counts["cohort_size"]
    counts = counts.sort_values(["cohort", "k"]).reset_index(drop=True)
    counts["cohort"] = [period_label(int(c), "month") for c in counts["cohort"]]
    return counts.rename(columns={"k": "months_since_first"})[
        ["cohort", "months_since_first", "customers", "cohort_size", "retention"]]


def cohort_matrix(long: pd.DataFrame) -> pd.DataFrame:
    """Wide form: index cohort, columns months since first purchase, values retention (0..1)."""
    if long.empty:
        return pd.DataFrame()
    return long.pivot(index="cohort", columns="months_since_first", values="retention").sort_index()

"""Per-customer purchase summary (frequency, recency, T, monetary value) as Ibis expressions.

Why Ibis: the expensive step is one pass over every transaction; written once as an Ibis
expression it runs inside DuckDB for files, inside SQLite/PostgreSQL for the operational database
and on Spark for large data, and only the per-customer result (or, for fitting, the even smaller
set of unique (frequency, recency, T) rows with weights) comes back to Python.

Conventions (those of the buy-till-you-die literature, so the fitters' published numbers apply):
- Time is counted in whole days (UTC); several purchases on one day are one purchase occasion.
- Rows with a negative value are returns: they are not purchase occasions; their value is
  reported separately (`returns`, `return_value`) and subtracted in `net_revenue`.
- frequency = number of repeat purchase days (purchase days - 1) up to the calibration end;
- recency   = time between the first and the last purchase day (in `time_unit_days` units);
- T         = time between the first purchase day and the calibration end (same units);
- monetary_value = mean value of the repeat purchase days (0 when frequency is 0), currency units.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError

__all__ = ["SUMMARY_COLUMNS", "CompressedSummary", "to_day_number", "day_expr", "validate_table",
           "summary_data", "compress", "observed_range"]

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase",
                   "last_purchase", "purchase_days", "transactions", "revenue", "returns", "return_value",
                   "net_revenue")
_EPOCH = dt.date(1970, 1, 1)


def to_day_number(value: dt.date | dt.datetime | str | pd.Timestamp) -> int:
    """Days since 1970-01-01 of a date (the integer day axis every expression uses)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int((ts.normalize() - pd.Timestamp(_EPOCH)).days)


def from_day_number(day: int | np.ndarray) -> Any:
    return pd.Timestamp(_EPOCH) + pd.to_timedelta(day, unit="D")


def day_expr(table: ibis.Table, date_col: str) -> ibis.Value:
    """Integer UTC day number of a timestamp/date column (portable: epoch seconds / 86400)."""
    col = table[date_col]
    if col.type().is_date():
        col = col.cast("timestamp")
    return (col.epoch_seconds() // 86400).cast("int64")


def validate_table(table: ibis.Table, *, customer_col: str, date_col: str, value_col: str | None = None) -> None:
    """Raise AnalyticsInputError naming any column that is missing or of the wrong type."""
    missing = [c for c in (customer_col, date_col, value_col) if c and c not in table.columns]
    if missing:
        raise AnalyticsInputError(f"column(s) {', '.join(missing)} not in table (columns: {', '.join(table.columns)})",
                                  column=missing[0])
    dtype = table[date_col].type()
    if not (dtype.is_timestamp() or dtype.is_date()):
        raise AnalyticsInputError(f"column {date_col!r} must be a date or timestamp, not {dtype}", column=date_col)
    if value_col and not table[value_col].type().is_numeric():
        raise AnalyticsInputError(f"column {value_col!r} must be numeric, not {table[value_col].type()}",
                                  column=value_col)


def _backend_name(table: ibis.Table) -> str:
    try:
        return str(table._find_backend().name)
    except Exception:  # noqa: BLE001 - unbound tables: use the portable form
        return ""


def observed_range(table: ibis.Table, *, date_col: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last transaction date in the table."""
    agg = table.aggregate(lo=table[date_col].min(), hi=table[date_col].max()).execute()
    lo, hi = agg["lo"].iloc[0], agg["hi"].iloc[0]
    if pd.isna(lo):
        raise AnalyticsInputError("the transactions table is empty")
    return pd.Timestamp(lo).normalize(), pd.Timestamp(hi).normalize()


def daily_purchases(table: ibis.Table, *, customer_col: str, date_col: str, value_col: str,
                    end_day: int) -> ibis.Table:
    """One row per (customer, purchase day) up to `end_day` inclusive: value (sum), n (rows)."""
    t = table.mutate(_day=day_expr(table, date_col))
    t = t.filter((t._day <= end_day) & (t[value_col] >= 0))
    return t.group_by([t[customer_col].name("customer_id"), t._day.name("day")]).aggregate(
        value=t[value_col].sum(), n=t[value_col].count())


def summary_data(
    table: ibis.Table,
    *,
    customer_col: str = "customer_id",
    date_col: str = "occurred_at",
    value_col: str = "amount",
    observation_end: dt.date | str | pd.Timestamp,
    calibration_end: dt.date | str | pd.Timestamp | None = None,
    time_unit_days: float = 1.0,
) -> pd.DataFrame:
    """Per-customer summary up to `calibration_end` (default: `observation_end`), both inclusive.

    Columns (one row per customer whose first purchase is on or before the calibration end):
      customer_id; frequency (repeat purchase days); recency, T (in units of `time_unit_days`
      days, e.g. 7 for weeks); monetary_value (mean repeat-day value, currency); first_purchase,
      last_purchase (dates); purchase_days; transactions (purchase rows); revenue (sum of purchase
      values); returns, return_value (negative rows and their summed value, <= 0); net_revenue.
      With a calibration end before the observation end also: frequency_holdout (purchase days
      after the calibration end), monetary_value_holdout (mean value of those days),
      duration_holdout (observation end - calibration end, same units).
    Revenue figures and returns cover the calibration period.
    """
    validate_table(table, customer_col=customer_col, date_col=date_col, value_col=value_col)
    if time_unit_days <= 0:
        raise AnalyticsInputError("time_unit_days must be positive")
    end_day = to_day_number(observation_end)
    cal_day = to_day_number(calibration_end) if calibration_end is not None else end_day
    if cal_day > end_day:
        raise AnalyticsInputError("calibration_end must not be after observation_end")
    daily = daily_purchases(table, customer_col=customer_col, date_col=date_col, value_col=value_col,
                            end_day=end_day)
    cal = daily.filter(daily.day <= cal_day)
    aggs = {"first_day": cal.day.min(), "last_day": cal.day.max(), "purchase_days": cal.day.count(),
            "revenue": cal.value.sum(), "transactions": cal.n.sum()}
    if _backend_name(table) in ("duckdb", "postgres", "pyspark"):
        # One aggregation (FIRST .. ORDER BY / ARRAY_AGG / min_by) instead of a self-join over every
        # purchase day: the value of the first purchase day.
        result = cal.group_by("customer_id").aggregate(**aggs, first_value=cal.value.argmin(cal.day))
    else:
        # SQLite's argmin relies on bare-column MIN(), undefined next to MAX(): join instead.
        per = cal.group_by("customer_id").aggregate(**aggs)
        first = cal.join(per, [cal.customer_id == per.customer_id, cal.day == per.first_day]).select(
            customer_id=cal.customer_id, first_value=cal.value)
        result = per.left_join(first, per.customer_id == first.customer_id).select(
            per.customer_id, per.first_day, per.last_day, per.purchase_days, per.revenue, per.transactions,
            first.first_value)
    t = table.mutate(_day=day_expr(table, date_col))
    ret = t.filter((t._day <= cal_day) & (t[value_col] < 0))
    ret = ret.group_by(ret[customer_col].name("customer_id")).aggregate(
        returns=ret[value_col].count(), return_value=ret[value_col].sum())
    result = result.left_join(ret, result.customer_id == ret.customer_id).select(
        *[result[c] for c in result.columns], ret.returns, ret.return_value)
    holdout = cal_day < end_day
    if holdout:
        hold = daily.filter(daily.day > cal_day)
        hold = hold.group_by("customer_id").aggregate(frequency_holdout=hold.day.count(),
                                                      value_holdout=hold.value.sum())
        result = result.left_join(hold, result.customer_id == hold.customer_id).select(
            *[result[c] for c in result.columns], hold.frequency_holdout, hold.value_holdout)
    df = result.execute()
    return _finish_summary(df, cal_day=cal_day, end_day=end_day, unit=time_unit_days, holdout=holdout)


def denoise_money(values: Any) -> np.ndarray:
    """Money sums rounded to 6 decimals.

    Why: the engine sums floats in parallel, in an order that changes from run to run, so the same
    purchases can give 38.59 once and 38.589999999999996 the next time; every model fitted on
    the summary would then move in its last digits. Six decimals keep sub-cent prices exact and
    remove that noise."""
    return np.round(np.asarray(values, dtype="float64"), 6)


def _finish_summary(df: pd.DataFrame, *, cal_day: int, end_day: int, unit: float, holdout: bool) -> pd.DataFrame:
    first = df["first_day"].to_numpy(dtype="int64")
    last = df["last_day"].to_numpy(dtype="int64")
    days = df["purchase_days"].to_numpy(dtype="int64")
    frequency = days - 1
    revenue = denoise_money(df["revenue"].to_numpy(dtype="float64"))
    first_value = denoise_money(df["first_value"].fillna(0).to_numpy(dtype="float64"))
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, (revenue - first_value) / np.maximum(frequency, 1), 0.0)
    out = pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy(),
        "frequency": frequency,
        "recency": (last - first) / unit,
        "T": (cal_day - first) / unit,
        "monetary_value": monetary,
        "first_purchase": from_day_number(first).to_numpy(),
        "last_purchase": from_day_number(last).to_numpy(),
        "purchase_days": days,
        "transactions": df["transactions"].to_numpy(dtype="int64"),
        "revenue": revenue,
        "returns": df["returns"].fillna(0).to_numpy(dtype="int64"),
        "return_value": denoise_money(df["return_value"].fillna(0.0).to_numpy(dtype="float64")),
    })
    out["net_revenue"] = denoise_money(out["revenue"] + out["return_value"])
    if holdout:
        fh = df["frequency_holdout"].fillna(0).to_numpy(dtype="int64")
        vh = denoise_money(df["value_holdout"].fillna(0.0).to_numpy(dtype="float64"))
        out["frequency_holdout"] = fh
        out["monetary_value_holdout"] = np.where(fh > 0, vh / np.maximum(fh, 1), 0.0)
        out["duration_holdout"] = (end_day - cal_day) / unit
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


@dataclass
class CompressedSummary:
    """Unique (frequency, recency, T) rows with weights, and the map back to customers.

    `inverse[i]` is the row of `unique` that customer i of the original summary has; model
    fitting and scoring work on the (much smaller) unique rows.
    """

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    weights: np.ndarray
    inverse: np.ndarray

    def __len__(self) -> int:
        return int(self.frequency.size)


def compress(summary: pd.DataFrame, *,
             columns: tuple[str, str, str] = ("frequency", "recency", "T")) -> CompressedSummary:
    """Collapse customers with identical (frequency, recency, T) into weighted rows."""
    if summary.empty:
        raise AnalyticsInputError("cannot compress an empty summary")
    stacked = np.column_stack([summary[c].to_numpy(dtype="float64") for c in columns])
    unique, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return CompressedSummary(frequency=unique[:, 0], recency=unique[:, 1], T=unique[:, 2],
                             weights=counts.astype("float64"), inverse=inverse.reshape(-1))

"""Dashboard figures, computed with `loyalist.analytics` on the operational data and cached.

Why a cache: fitting the purchase model and building cohorts over a few thousand customers takes
a second or more, far above a page budget of 300 ms, and the figures move slowly. They are kept
per process for `TTL` and per database, and the page says when they were computed. Figures whose
domain has not produced data say "no data yet" — they are never filled with placeholders.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.ledger import service as ledger

TTL_SECONDS = 300.0
_log = logging.getLogger(__name__)
_cache: dict[str, tuple[float, Dashboard]] = {}
_lock = threading.Lock()
_computing: dict[str, threading.Lock] = {}


@dataclass
class Dashboard:
    computed_at: Any
    as_of: Any
    customers_with_purchases: int = 0
    transactions: int = 0
    active_365: int | None = None
    active_90: int | None = None
    repeat_rate: float | None = None
    retention_last_month: float | None = None
    churn_last_month: float | None = None
    retention: list[dict[str, Any]] = field(default_factory=list)  # period, retention_rate, churn_rate
    cohort_rows: list[str] = field(default_factory=list)
    cohort_cols: list[str] = field(default_factory=list)
    cohort_matrix: list[list[float | None]] = field(default_factory=list)
    clv_values: list[float] = field(default_factory=list)
    clv_kind: str = ""  # "predicted" (12-month, BG/NBD + Gamma-Gamma) or "historical"
    revenue_at_risk: float | None = None
    customers_lost_last_year: int | None = None
    average_yearly_value: float | None = None
    cost_of_churn: float | None = None
    liability: Any = None  # ledger LiabilityReport
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _compute(session: Session, point_value: Any) -> Dashboard:
    from loyalist.analytics import clv_pipeline
    from loyalist.analytics.cohorts import cohort_matrix, cohort_table
    from loyalist.analytics.retention import retention_rates
    from loyalist.analytics.summary import summary_data
    from loyalist.api.routes import analytics as api_analytics

    started = time.perf_counter()
    table, end, rows = api_analytics._table(session, None)
    out = Dashboard(computed_at=clock.now(), as_of=end, transactions=rows)
    out.liability = ledger.liability(session, point_value=point_value)
    if rows == 0:
        out.seconds = time.perf_counter() - started
        return out
    s = summary_data(table, observation_end=end)
    out.customers_with_purchases = len(s)
    days_since = (pd.Timestamp(end) - pd.to_datetime(s["last_purchase"])).dt.days
    out.active_365 = int((days_since < 365).sum())
    out.active_90 = int((days_since < 90).sum())
    out.repeat_rate = float((s["purchase_days"] >= 2).mean())

    r = retention_rates(table, observation_end=end, period="month")
    r = r.tail(24)
    out.retention = [
        {"period": str(row["period"]), "complete": bool(row["complete"]),
         "retention_rate": None if pd.isna(row["retention_rate"]) else float(row["retention_rate"]),
         "churn_rate": None if pd.isna(row["churn_rate"]) else float(row["churn_rate"]),
         "active": int(row["active_customers"])}
        for _, row in r.iterrows()
    ]
    done = [x for x in out.retention if x["complete"] and x["retention_rate"] is not None]
    if done:
        out.retention_last_month = done[-1]["retention_rate"]
        out.churn_last_month = done[-1]["churn_rate"]

    wide = cohort_matrix(cohort_table(table, observation_end=end))
    if not wide.empty:
        wide = wide.tail(12)
        cols = [c for c in wide.columns if int(c) <= 12]
        out.cohort_rows = [str(i) for i in wide.index]
        out.cohort_cols = [str(int(c)) for c in cols]
        out.cohort_matrix = [[None if pd.isna(v) else float(v) for v in wide.loc[i, cols]] for i in wide.index]

    frame = table.execute()
    end_ts = pd.Timestamp(end) + pd.Timedelta(days=1)
    last_year = frame[frame["occurred_at"] >= end_ts - pd.Timedelta(days=365)]
    prev_year = frame[(frame["occurred_at"] >= end_ts - pd.Timedelta(days=730))
                      & (frame["occurred_at"] < end_ts - pd.Timedelta(days=365))]
    revenue_365 = last_year.groupby("customer_id")["amount"].sum()
    lost = set(prev_year["customer_id"]) - set(last_year["customer_id"])
    out.customers_lost_last_year = len(lost)
    out.average_yearly_value = float(revenue_365.mean()) if len(revenue_365) else 0.0
    out.cost_of_churn = out.customers_lost_last_year * out.average_yearly_value

    try:
        model = clv_pipeline.fit_transaction_model(s)
        spend = clv_pipeline.fit_spend_model(s)
        pred = clv_pipeline.predict_customers(s, model, spend)
        risk = (1.0 - pred["p_alive"].to_numpy()) * revenue_365.reindex(s["customer_id"]).fillna(0.0).to_numpy()
        out.revenue_at_risk = float(risk.sum())
        if "clv" in pred:
            out.clv_values = [float(v) for v in pred["clv"].to_numpy()]
            out.clv_kind = "predicted"
    except Exception as exc:  # noqa: BLE001 - a model that cannot fit must not take the dashboard down
        out.notes.append(f"purchase model not fitted: {exc}")
    if not out.clv_values:
        out.clv_values = [float(v) for v in s["net_revenue"].to_numpy()]
        out.clv_kind = "historical"
    out.seconds = time.perf_counter() - started
    return out


def dashboard(session: Session, *, cache_key: str, point_value: Any, refresh: bool = False) -> Dashboard:
    """The cached figures for this database.

    Stale figures (older than TTL) are answered at once while a background thread recomputes
    them, so no page view after the first one pays the computation (the page shows when they
    were computed); "Recompute now" (`refresh`) computes in the request. Only the very first
    view after start-up waits — unless the server warmed the cache (`warm_in_background`)."""
    with _lock:
        hit = _cache.get(cache_key)
        if hit is not None and not refresh:
            if time.monotonic() - hit[0] >= TTL_SECONDS:
                _refresh_in_background(session.get_bind().engine, cache_key, point_value)
            return hit[1]
    return _compute_and_store(session, cache_key, point_value, refresh=refresh)


def _compute_and_store(session: Session, cache_key: str, point_value: Any, *, refresh: bool) -> Dashboard:
    with _lock:
        computing = _computing.setdefault(cache_key, threading.Lock())
    with computing:  # one computation per database at a time; the others wait and reuse it
        with _lock:
            hit = _cache.get(cache_key)
            if hit is not None and time.monotonic() - hit[0] < (1.0 if refresh else TTL_SECONDS):
                return hit[1]
        result = _compute(session, point_value)
        with _lock:
            _cache[cache_key] = (time.monotonic(), result)
        return result


def _refresh_in_background(engine: Any, cache_key: str, point_value: Any) -> None:
    """Recompute in a daemon thread with its own session, unless a computation is running."""
    computing = _computing.setdefault(cache_key, threading.Lock())
    if computing.locked():
        return

    def run() -> None:
        try:
            with Session(engine) as own:
                _compute_and_store(own, cache_key, point_value, refresh=True)
        except Exception:  # a failed refresh keeps the old figures; the next view tries again
            _log.exception("dashboard refresh failed")

    threading.Thread(target=run, name="dashboard-refresh", daemon=True).start()


def warm_in_background(engine: Any, point_value: Any) -> None:
    """Compute the figures once in the background at start-up (`loyalist demo`, `loyalist serve`),
    so that the first dashboard view is a cache read too. Same key as the console route uses."""
    _refresh_in_background(engine, str(engine.url), point_value)


def clear_cache() -> None:
    with _lock:
        _cache.clear()

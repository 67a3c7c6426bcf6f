"""Retention analytics for the dashboard, computed from the operational `purchases` table.

Why read through the request's session: the numbers must agree with what this request's
transaction sees (and tests run inside one). The rows needed (customer, time, net - refunded
value) are read once and handed to the same Ibis expressions `loyalist analyze` runs, on an
in-process DuckDB; for bases too large for that, `loyalist analyze --from-db` runs them inside
the database itself. Churn risk here is 1 - P(alive) from the BG/NBD model (fast enough per
request); the supervised model lives in the batch report.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.api.deps import Permit, SessionDep
from loyalist.errors import ValidationFailed
from loyalist.types import Actor

router = APIRouter(prefix="/analytics", tags=["analytics"])
Reader = Annotated[Actor, Permit("analytics:read")]
AsOf = Annotated[dt.date | None, Query(description="Observation end (inclusive); default today (UTC)")]


class Overview(BaseModel):
    as_of: dt.date
    customers: int
    transactions: int
    net_revenue: float
    active_customers_365d: int
    active_customers_90d: int
    repeat_purchase_rate: float | None
    historical_clv_mean: float | None
    retention_rate_last_month: float | None
    retention_rate_last_quarter: float | None


class Rows(BaseModel):
    as_of: dt.date
    rows: list[dict[str, Any]]


def _purchases(session: Session) -> pd.DataFrame:
    """customer_id, occurred_at (naive UTC), amount (net - refunded) of every purchase."""
    conn = session.connection()
    if not inspect(conn).has_table("purchases"):
        return pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "occurred_at": pd.Series(dtype="datetime64[us]"),
                             "amount": pd.Series(dtype="float64")})
    result = conn.execute(text("SELECT customer_id, occurred_at, net_amount, refunded_amount FROM purchases"))
    frame = pd.DataFrame(result.fetchall(), columns=["customer_id", "occurred_at", "net", "refunded"])
    when = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "occurred_at": when.dt.tz_localize(None).astype("datetime64[us]"),
        "amount": pd.to_numeric(frame["net"]).astype("float64") - pd.to_numeric(frame["refunded"]).astype("float64"),
    })


def _table(session: Session, as_of: dt.date | None) -> tuple[Any, dt.date, int]:
    import ibis

    end = as_of or clock.now().date()
    frame = _purchases(session)
    frame = frame[frame["occurred_at"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    con = ibis.duckdb.connect()
    return con.create_table("purchases", frame), end, len(frame)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from loyalist.analytics.pipeline import _jsonable

    return _jsonable(frame.to_dict(orient="records"))  # type: ignore[no-any-return]


@router.get("/overview", response_model=Overview)
def overview(session: SessionDep, _actor: Reader, as_of: AsOf = None) -> Overview:
    """Headline numbers: customers, active customers, repeat rate, last complete retention rates."""
    from loyalist.analytics.retention import retention_rates
    from loyalist.analytics.summary import summary_data

    table, end, rows = _table(session, as_of)
    empty = Overview(as_of=end, customers=0, transactions=0, net_revenue=0.0, active_customers_365d=0,
                     active_customers_90d=0, repeat_purchase_rate=None, historical_clv_mean=None,
                     retention_rate_last_month=None, retention_rate_last_quarter=None)
    if rows == 0:
        return empty
    s = summary_data(table, observation_end=end)
    if s.empty:
        return empty
    days_since = (pd.Timestamp(end) - pd.to_datetime(s["last_purchase"])).dt.days

    def last_rate(period: str) -> float | None:
        r = retention_rates(table, observation_end=end, period=period)
        done = r[r["complete"] & r["retention_rate"].notna()]
        return float(done["retention_rate"].iloc[-1]) if len(done) else None

    return Overview(as_of=end, customers=len(s), transactions=rows, net_revenue=float(s["net_revenue"].sum()),
                    active_customers_365d=int((days_since < 365).sum()),
                    active_customers_90d=int((days_since < 90).sum()),
                    repeat_purchase_rate=float((s["purchase_days"] >= 2).mean()),
                    historical_clv_mean=float(s["net_revenue"].mean()),
                    retention_rate_last_month=last_rate("month"), retention_rate_last_quarter=last_rate("quarter"))


@router.get("/retention", response_model=Rows)
def retention(session: SessionDep, _actor: Reader, as_of: AsOf = None,
              period: Literal["month", "quarter", "year"] = "month") -> Rows:
    """Active, new and retained customers with retention and churn rates per period."""
    from loyalist.analytics.retention import retention_rates

    table, end, rows = _table(session, as_of)
    if rows == 0:
        return Rows(as_of=end, rows=[])
    return Rows(as_of=end, rows=_records(retention_rates(table, observation_end=end, period=period)))


@router.get("/cohorts", response_model=Rows)
def cohorts(session: SessionDep, _actor: Reader, as_of: AsOf = None) -> Rows:
    """Cohort retention by first-purchase month (long form)."""
    from loyalist.analytics.cohorts import cohort_table

    table, end, rows = _table(session, as_of)
    if rows == 0:
        return Rows(as_of=end, rows=[])
    return Rows(as_of=end, rows=_records(cohort_table(table, observation_end=end)))


@router.get("/rfm/segments", response_model=Rows)
def rfm_segments(session: SessionDep, _actor: Reader, as_of: AsOf = None) -> Rows:
    """Customers and revenue per RFM segment."""
    from loyalist.analytics.rfm import score_rfm, segment_summary
    from loyalist.analytics.summary import summary_data

    table, end, rows = _table(session, as_of)
    if rows == 0:
        return Rows(as_of=end, rows=[])
    s = summary_data(table, observation_end=end)
    return Rows(as_of=end, rows=_records(segment_summary(score_rfm(s, observation_end=end))))


@router.get("/churn-risk", response_model=Rows)
def churn_risk(session: SessionDep, _actor: Reader, as_of: AsOf = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Rows:
    """Customers ranked by value at risk = (1 - P(alive)) x revenue in the last 365 days."""
    from loyalist.analytics import clv_pipeline
    from loyalist.analytics.errors import AnalyticsInputError
    from loyalist.analytics.summary import summary_data

    table, end, rows = _table(session, as_of)
    if rows == 0:
        return Rows(as_of=end, rows=[])
    s = summary_data(table, observation_end=end)
    try:
        model = clv_pipeline.fit_transaction_model(s)
    except (AnalyticsInputError, ValueError) as exc:
        raise ValidationFailed(f"cannot fit the purchase model on these data: {exc}") from exc
    pred = clv_pipeline.predict_customers(s, model, None)
    frame = table.execute()
    last_year = frame[frame["occurred_at"] >= pd.Timestamp(end) - pd.Timedelta(days=364)]
    revenue = last_year.groupby("customer_id")["amount"].sum()
    out = pd.DataFrame({"customer_id": s["customer_id"], "last_purchase": s["last_purchase"],
                        "p_alive": pred["p_alive"], "churn_probability": 1.0 - pred["p_alive"]})
    out["revenue_last_365"] = revenue.reindex(out["customer_id"]).fillna(0.0).to_numpy()
    out["value_at_risk"] = out["churn_probability"] * out["revenue_last_365"]
    out["days_since_last_purchase"] = (pd.Timestamp(end) - pd.to_datetime(out["last_purchase"])).dt.days
    top = out[out["value_at_risk"] > 0].nlargest(limit, "value_at_risk")
    return Rows(as_of=end, rows=_records(top))

"""Retention analytics for the dashboard, computed from the operational `purchases` table.

Why read through the request's session: the numbers must agree with what this request's
transaction sees (and tests run inside one). The rows needed (customer, time, net - refunded
value) are read once and handed to the same Ibis expressions `loyalist analyze` runs, on an
in-process DuckDB; for bases too large for that, `loyalist analyze --from-db` runs them inside
the database itself. The churn-risk list is the report's (`analytics.risk`): the supervised
model's probability when it can be trained on the history, else 1 - P(alive), with reasons; its
dated side table (points, cases, NPS, enrolment, engagement) is the scores refresh's
(`scores.service.churn_side_table`), so the list and the stored scores use the same features.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.api.deps import Permit, SessionDep
from loyalist.errors import ValidationFailed
from loyalist.types import Actor

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
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


def _jsonable(value: Any) -> Any:
    from loyalist.analytics.pipeline import _jsonable as plain

    return plain(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
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


class Movement(BaseModel):
    from_date: dt.date
    as_of: dt.date
    counts: dict[str, dict[str, int]] = Field(description="customers by segment at from_date (outer key; "
                                              "'(not yet a customer)' for newcomers) and at as_of (inner key)")


@router.get("/rfm/movement", response_model=Movement)
def rfm_movement(session: SessionDep, _actor: Reader, from_date: Annotated[dt.date, Query(
                     alias="from", description="Earlier scoring date (inclusive)")],
                 as_of: AsOf = None) -> Movement:
    """How many customers moved from each RFM segment at `from` to each segment at `as_of`."""
    from loyalist.analytics.rfm import rfm_table, segment_movement

    table, end, rows = _table(session, as_of)
    if from_date >= end:
        raise ValidationFailed(f"from: must be before as_of ({end})", field="from")
    if rows == 0:
        return Movement(from_date=from_date, as_of=end, counts={})
    after = rfm_table(table, observation_end=end)
    before_rows = table.filter(table.occurred_at < pd.Timestamp(from_date) + pd.Timedelta(days=1))
    if before_rows.count().execute() == 0:
        before = after.iloc[0:0]
    else:
        before = rfm_table(before_rows, observation_end=from_date)
    matrix = segment_movement(before, after)
    counts = {str(b): {str(a): int(n) for a, n in row.items() if n} for b, row in matrix.iterrows()}
    return Movement(from_date=from_date, as_of=end, counts=counts)


class RiskReason(BaseModel):
    """One driver of a churn score: the customer's value next to the typical one."""

    feature: str
    label: str
    value: float | None
    typical: float | None
    contribution: float | None = Field(description="probability points this feature adds (supervised model)")
    text: str


class RiskRow(BaseModel):
    customer_id: int
    churn_probability: float | None
    p_alive: float | None
    revenue_last_365: float
    value_at_risk: float
    segment: str | None
    last_purchase: dt.date | None
    days_since_last_purchase: int
    reasons: list[RiskReason]


class RiskList(BaseModel):
    as_of: dt.date
    horizon_days: int
    source: Literal["supervised", "1 - P(alive)", "none"] = Field(
        description="where churn_probability comes from: the supervised model when it could be trained and "
                    "validated on the history, else 1 - P(alive) of the BG/NBD model")
    definition: str
    revenue_at_risk: float
    model_metrics: dict[str, Any] = Field(description="supervised model on the later (holdout) period: auc, "
                                          "precision_at_k, k, base_rate, n")
    notes: list[str]
    rows: list[RiskRow]


@router.get("/churn-risk", response_model=RiskList)
def churn_risk(session: SessionDep, _actor: Reader, as_of: AsOf = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50,
               horizon_days: Annotated[int, Query(ge=7, le=365, description="churn = no purchase within this "
                                                  "many days")] = 90) -> RiskList:
    """Customers ranked by value at risk (churn probability x revenue in the last 365 days) with the
    reasons behind each score: the same list, scores and reasons as the `loyalist analyze` report."""
    from loyalist.analytics.errors import AnalyticsInputError
    from loyalist.analytics.pipeline import DEFINITIONS
    from loyalist.analytics.risk import churn_risk_list

    table, end, rows = _table(session, as_of)
    definition = f"{DEFINITIONS['value_at_risk']}; churn probability: {DEFINITIONS['churn_probability']}"
    if rows == 0:
        return RiskList(as_of=end, horizon_days=horizon_days, source="none", definition=definition,
                        revenue_at_risk=0.0, model_metrics={}, notes=["no purchases up to the as-of date"], rows=[])
    from loyalist.scores import service as scores

    until = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC) + dt.timedelta(days=1, microseconds=-1)
    events = scores.churn_side_table(session, as_of=until)
    try:
        result = churn_risk_list(table, observation_end=end, horizon_days=horizon_days, size=limit, events=events)
    except AnalyticsInputError as exc:
        raise ValidationFailed(f"cannot rank churn risk on these data: {exc.message}") from exc
    frame = result.rows.drop(columns=["reasons"]).rename(columns={"reason_details": "reasons"})
    frame["last_purchase"] = pd.to_datetime(frame["last_purchase"]).dt.date
    return RiskList(as_of=end, horizon_days=horizon_days, source=result.source,  # type: ignore[arg-type]
                    definition=definition, revenue_at_risk=result.revenue_at_risk,
                    model_metrics=_jsonable(result.metrics), notes=result.notes,
                    rows=[RiskRow(**r) for r in _records(frame)])

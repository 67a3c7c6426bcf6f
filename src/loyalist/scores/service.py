"""Refresh and read the per-customer analytics scores.

`refresh` runs the same `loyalist.analytics` functions as `loyalist analyze` on the operational
purchases (RFM quintiles and segment, BG/NBD P(alive) and expected purchases, Gamma-Gamma
predicted CLV, the supervised churn model with its reasons) and writes one row per customer
with a set-based UPSERT, all inside the caller's transaction: readers see either the old or the
new scores, never a mix.

Why a lighter path than `analytics.pipeline.analyze`: cohorts, retention tables, model
comparison and the report are not needed to score customers, and skipping them keeps a daily
refresh of a few thousand customers to a few seconds.

Reading the operational history (`scores.queries`): purchases, and the dated side table of the
churn model (points postings, cases, NPS answers, enrolment, inbound interactions), with
SQLAlchemy Core on the tables registered in `Base.metadata`, read-only and set-based (the
documented exception for scores and segments in docs/architecture.md).

Churn probability, value at risk and reasons come from `analytics.risk` (score_risk,
risk_reasons), the module the report and the REST churn-risk list use, so a customer's reasons
read the same in the console, the API and `loyalist analyze`.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, cast, delete, func, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.errors import NotFound, ValidationFailed
from loyalist.scores import queries
from loyalist.scores.models import CustomerScore, ScoreRun
from loyalist.scores.schemas import ChurnReason, RefreshResult, ScorePage, ScoreRead
from loyalist.types import SYSTEM, Actor

MODELS = ("bgnbd", "paretonbd", "mbgnbd")
ORDERS = ("churn_risk", "value_at_risk", "predicted_clv", "customer_id")
CENT = Decimal("0.01")


def _order_by(session: Session, order: str) -> tuple[Any, ...]:
    """Largest first, customers without a value last, ties by id; money compares as numbers
    (on SQLite MoneyType is text, where '99.00' > '100.00')."""
    if order == "customer_id":
        return (CustomerScore.customer_id,)
    column: Any = getattr(CustomerScore, order)
    if order != "churn_risk" and session.get_bind().dialect.name == "sqlite":
        column = cast(column, Float)
    return (column.desc().nulls_last(), CustomerScore.customer_id)


def churn_side_table(session: Session, *, as_of: datetime) -> pd.DataFrame:
    """The dated side table of the churn model read from the operational tables up to `as_of`:
    customer_id, occurred_at, kind, value (points, complaint, engagement, nps, enrolled).

    Public because `loyalist analyze --from-db` and the analytics API give the same rows to the
    report's churn model; read-only, one set-based statement (see scores.queries)."""
    return queries.side_events_frame(session, as_of)


def _money(value: float | None) -> Decimal | None:
    if value is None or not np.isfinite(value):
        return None
    return Decimal(repr(float(value))).quantize(CENT)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if not np.isfinite(v) else v


def compute(frame: pd.DataFrame, *, as_of: datetime, model: str = "bgnbd", churn_horizon_days: int = 90,
            seed: int = 0, events: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any], list[str], str]:
    """Scores per customer from a purchases frame (customer_id, occurred_at, amount) and the
    optional dated side table `events` (customer_id, occurred_at, kind, value; see
    analytics.churn.SIDE_FEATURES), whose features are computed as of every cut of the model.

    Returns (scores frame, metrics, notes, churn source). Pure: no database access, so the
    arithmetic is tested without one and the refresh only adds reading and writing."""
    import ibis

    from loyalist.analytics import clv_pipeline
    from loyalist.analytics.churn import churn_features, normalise_events, validate_churn_model
    from loyalist.analytics.errors import AnalyticsInputError
    from loyalist.analytics.rfm import score_rfm
    from loyalist.analytics.risk import risk_reasons, score_risk
    from loyalist.analytics.summary import summary_data

    end = pd.Timestamp(as_of.date())
    notes: list[str] = []
    metrics: dict[str, Any] = {}
    con = ibis.duckdb.connect()
    table = con.create_table("purchases", frame)
    full = summary_data(table, observation_end=end)
    if full.empty:
        return pd.DataFrame(), metrics, ["no purchases up to the as-of date"], "recency"
    rfm = score_rfm(full, observation_end=end)
    out = full[["customer_id", "purchase_days", "last_purchase", "net_revenue"]].merge(
        rfm[["customer_id", "recency_days", "r_score", "f_score", "m_score", "rfm_score", "segment"]],
        on="customer_id", how="left")
    try:
        tx_model = clv_pipeline.fit_transaction_model(full, model=model, seed=seed)
        spend = clv_pipeline.fit_spend_model(full, seed=seed)
        pred = clv_pipeline.predict_customers(full, tx_model, spend, horizon_months=12)
        metrics["transaction_model"] = {k: float(v) for k, v in tx_model.params_.items()}
        if spend is None:
            notes.append("Gamma-Gamma skipped: fewer than 10 repeat buyers; no predicted CLV")
            pred["clv"] = np.nan
        out = out.merge(pred[["customer_id", "p_alive", "expected_purchases_90d", "clv"]], on="customer_id",
                        how="left")
    except (AnalyticsInputError, ValueError, FloatingPointError) as exc:
        notes.append(f"transaction model skipped: {exc}")
        out["p_alive"] = np.nan
        out["expected_purchases_90d"] = np.nan
        out["clv"] = np.nan
    first = pd.Timestamp(full["first_purchase"].min())
    if events is not None and not events.empty:
        events = normalise_events(events)
    else:
        events = None
    current = churn_features(table, as_of=end, events=events)
    validation = None
    try:
        validation = validate_churn_model(table, observation_end=end, horizon_days=churn_horizon_days, seed=seed,
                                          first_date=first, current_features=current, events=events)
        metrics["churn_model"] = {k: validation.metrics[k] for k in ("auc", "precision_at_k", "k", "base_rate", "n")
                                  if k in validation.metrics}
        metrics["churn_model"]["features"] = list(validation.model.features_)
        source = "supervised"
    except (AnalyticsInputError, ValueError) as exc:
        notes.append(f"supervised churn model skipped: {exc}")
        source = "1 - p_alive" if out["p_alive"].notna().any() else "recency"
    p_alive = out[["customer_id", "p_alive"]] if source != "recency" else None
    risk, _ = score_risk(current, validation, p_alive)
    alive = (out.set_index("customer_id")["p_alive"].reindex(current["customer_id"]).to_numpy(dtype="float64")
             if source == "1 - p_alive" else None)
    risk["churn_reasons"] = risk_reasons(current, validation, alive)
    risk = risk.rename(columns={"churn_probability": "churn_risk"})
    out = out.merge(risk[["customer_id", "churn_risk", "value_at_risk", "churn_reasons"]], on="customer_id",
                    how="left")
    out["churn_reasons"] = [r if isinstance(r, list) else [] for r in out["churn_reasons"]]
    model_name = clv_pipeline.MODEL_NAMES[model] + ("" if out["clv"].isna().all() else " + Gamma-Gamma")
    metrics["model_name"] = model_name
    return out, metrics, notes, source


def refresh(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM, model: str = "bgnbd",
            churn_horizon_days: int = 90) -> RefreshResult:
    """Recompute every customer's scores from the purchases up to `as_of` (default now) and UPSERT
    them; customers without purchases any more (erased, merged) lose their row."""
    if model not in MODELS:
        raise ValidationFailed(f"model: one of {list(MODELS)}", field="model")
    if not 7 <= churn_horizon_days <= 365:
        raise ValidationFailed("churn_horizon_days: must be between 7 and 365", field="churn_horizon_days")
    started = time.perf_counter()
    now = clock.now()
    as_of = as_of or now
    frame = queries.purchases_frame(session, as_of)
    if frame.empty:
        scores, metrics, notes, source = pd.DataFrame(), {}, ["no purchases up to the as-of date"], "recency"
    else:
        scores, metrics, notes, source = compute(frame, as_of=as_of, model=model,
                                                 churn_horizon_days=churn_horizon_days,
                                                 events=queries.side_events_frame(session, as_of))
    model_name = metrics.pop("model_name", "none")
    rows = _rows(scores, source=source, model_name=model_name, computed_at=now)
    _upsert(session, rows)
    scored = {r["customer_id"] for r in rows}
    existing = session.scalars(select(CustomerScore.customer_id)).all()
    stale = [cid for cid in existing if cid not in scored]
    for i in range(0, len(stale), 1000):
        session.execute(delete(CustomerScore).where(CustomerScore.customer_id.in_(stale[i:i + 1000])))
    seconds = round(time.perf_counter() - started, 3)
    run = ScoreRun(as_of=as_of, started_at=now, customers=len(rows), removed=len(stale), model=model_name,
                   churn_source=source, metrics=metrics, notes=notes, seconds=seconds, actor=actor.label)
    session.add(run)
    session.flush()
    audit.record(session, actor=actor, action="scores.refresh", target_type="score_run", target_id=run.id,
                 after={"as_of": as_of.isoformat(), "customers": len(rows), "removed": len(stale),
                        "model": model_name, "churn_source": source})
    session.expire_all()
    return RefreshResult(run_id=run.id, as_of=as_of, customers=len(rows), removed=len(stale), model=model_name,
                         churn_source=source, metrics=metrics, notes=notes, seconds=seconds)


def _rows(scores: pd.DataFrame, *, source: str, model_name: str, computed_at: datetime) -> list[dict[str, Any]]:
    if scores.empty:
        return []
    last = pd.to_datetime(scores["last_purchase"])
    rows = []
    for rec, last_day in zip(scores.to_dict(orient="records"), last, strict=True):
        churn = _num(rec["churn_risk"])
        rows.append({
            "customer_id": int(rec["customer_id"]),
            "recency_days": int(rec["recency_days"]),
            "purchase_days": int(rec["purchase_days"]),
            "last_purchase_on": datetime(last_day.year, last_day.month, last_day.day, tzinfo=computed_at.tzinfo),
            "rfm_r": int(rec["r_score"]), "rfm_f": int(rec["f_score"]), "rfm_m": int(rec["m_score"]),
            "rfm_score": str(rec["rfm_score"]), "rfm_segment": str(rec["segment"]),
            "p_alive": None if _num(rec["p_alive"]) is None else round(float(rec["p_alive"]), 6),
            "churn_risk": None if churn is None else round(min(max(churn, 0.0), 1.0), 6),
            "churn_source": source,
            "churn_reasons": rec["churn_reasons"],
            "value_at_risk": None if churn is None else _money(_num(rec["value_at_risk"])),
            "expected_purchases_90d": None if _num(rec["expected_purchases_90d"]) is None
            else round(float(rec["expected_purchases_90d"]), 6),
            "predicted_clv": _money(_num(rec["clv"])),
            "historical_clv": _money(float(rec["net_revenue"])) or Decimal("0.00"),
            "model": model_name,
            "computed_at": computed_at,
        })
    return rows


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT .. ON CONFLICT (customer_id) DO UPDATE, in batches; the old churn risk is kept."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = CustomerScore.__table__
    stmt = insert(table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "customer_id"}
    updates["previous_churn_risk"] = table.c.churn_risk
    stmt = stmt.on_conflict_do_update(index_elements=["customer_id"], set_=updates)
    for i in range(0, len(rows), 5000):
        session.execute(stmt, [{**r, "previous_churn_risk": None} for r in rows[i:i + 5000]])


def _read(row: CustomerScore) -> ScoreRead:
    return ScoreRead(
        customer_id=row.customer_id, recency_days=row.recency_days, purchase_days=row.purchase_days,
        last_purchase_on=row.last_purchase_on, rfm_r=row.rfm_r, rfm_f=row.rfm_f, rfm_m=row.rfm_m,
        rfm_score=row.rfm_score, rfm_segment=row.rfm_segment, p_alive=row.p_alive, churn_risk=row.churn_risk,
        value_at_risk=row.value_at_risk,
        previous_churn_risk=row.previous_churn_risk, churn_source=row.churn_source,
        churn_reasons=[ChurnReason(**r) for r in row.churn_reasons or []],
        expected_purchases_90d=row.expected_purchases_90d, predicted_clv=row.predicted_clv,
        historical_clv=row.historical_clv, model=row.model, computed_at=row.computed_at)


def get_scores(session: Session, customer_id: int) -> ScoreRead:
    """The latest scores of one customer; NotFound before the first refresh that saw a purchase."""
    row = session.get(CustomerScore, customer_id)
    if row is None:
        raise NotFound(f"no scores for customer {customer_id} (no purchases, or not refreshed yet)",
                       field="customer_id")
    return _read(row)


def list_scores(session: Session, *, rfm_segment: str | None = None, min_churn_risk: float | None = None,
                order: str = "churn_risk", limit: int = 50, offset: int = 0) -> ScorePage:
    """Scores filtered by RFM segment and minimum churn risk, riskiest first; or largest value at
    risk first (what the report's churn-risk list ranks by), or largest predicted CLV first."""
    if order not in ORDERS:
        raise ValidationFailed(f"order: one of {list(ORDERS)}", field="order")
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit: must be between 1 and 500", field="limit")
    if offset < 0:
        raise ValidationFailed("offset: must not be negative", field="offset")
    if min_churn_risk is not None and not 0 <= min_churn_risk <= 1:
        raise ValidationFailed("min_churn_risk: must be between 0 and 1", field="min_churn_risk")
    query = select(CustomerScore)
    if rfm_segment is not None:
        query = query.where(CustomerScore.rfm_segment == rfm_segment)
    if min_churn_risk is not None:
        query = query.where(CustomerScore.churn_risk >= min_churn_risk)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*_order_by(session, order)).limit(limit).offset(offset)).all()
    return ScorePage(items=[_read(r) for r in rows], total=total, limit=limit, offset=offset)


def last_run(session: Session) -> RefreshResult | None:
    run = session.scalars(select(ScoreRun).order_by(ScoreRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    return RefreshResult(run_id=run.id, as_of=run.as_of, customers=run.customers, removed=run.removed,
                         model=run.model, churn_source=run.churn_source, metrics=run.metrics, notes=run.notes,
                         seconds=run.seconds)


# --------------------------------------------------------------------------- customer hooks

def _export(session: Session, customer_id: int) -> Any:
    row = session.get(CustomerScore, customer_id)
    return None if row is None else _read(row).model_dump(mode="json")


def _drop(session: Session, customer_id: int) -> None:
    session.execute(delete(CustomerScore).where(CustomerScore.customer_id == customer_id))


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: object) -> None:
    # Both histories are one now: the next refresh scores the survivor on the combined purchases.
    _drop(session, duplicate_id)


def _erasure_handler(session: Session, *, customer_id: int, actor: object) -> None:
    _drop(session, customer_id)


def _register_hooks() -> None:
    from loyalist.customers import hooks

    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("scores", _export)
    hooks.register_view_section("scores", _export)


_register_hooks()

__all__ = ["refresh", "compute", "churn_side_table", "get_scores", "list_scores", "last_run", "MODELS", "ORDERS"]

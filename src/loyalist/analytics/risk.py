"""The churn-risk list: customers ranked by value at risk, with the reasons behind each score.

Why one module for the report, the REST API and the stored scores: the dashboard, the console and
`loyalist analyze` must show the same customers, in the same order, with the same probabilities,
values at risk and reasons. All call `score_risk` and `risk_reasons` (`rank_risk` for a list);
`churn_risk_list` is the whole path from a transactions table for callers that do not run the
full analysis (the API).

Which churn probability: the supervised model's when one could be trained and validated on the
history (see churn.validate_churn_model), else 1 - P(alive) of the transaction model, else none.
value at risk = churn probability x the customer's revenue in the last 365 days.

Reasons: for the supervised model, the features that raise the customer's probability most
(ChurnModel.reason_details); for 1 - P(alive), the silence since the last purchase next to the
customer's own usual gap between purchases (what drives P(alive) in BG/NBD-type models).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.churn import (
    ChurnValidation,
    churn_features,
    normalise_events,
    reasons_text,
    validate_churn_model,
)
from loyalist.analytics.errors import AnalyticsInputError

__all__ = ["SOURCES", "RiskList", "score_risk", "rank_risk", "risk_reasons", "probabilistic_reasons",
           "churn_risk_list"]

SOURCES = ("supervised", "1 - P(alive)", "none")


@dataclass
class RiskList:
    """The ranked list and what it was computed with."""

    rows: pd.DataFrame  # see rank_risk
    source: str  # one of SOURCES
    horizon_days: int
    revenue_at_risk: float  # over all customers, not only the listed ones
    metrics: dict[str, Any] = field(default_factory=dict)  # supervised model's holdout AUC, precision@k
    notes: list[str] = field(default_factory=list)


def score_risk(current: pd.DataFrame, validation: ChurnValidation | None,
               p_alive: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """Every customer of `current` (churn features at the observation end) with churn_probability
    and value_at_risk; returns the frame and the source of the probability."""
    risk = current[["customer_id", "revenue_last_365", "purchases_last_365", "purchases_prev_365"]].copy()
    if validation is not None:
        risk = risk.merge(validation.scores, on="customer_id", how="left")
        source = "supervised"
    elif p_alive is not None:
        risk = risk.merge(p_alive[["customer_id", "p_alive"]], on="customer_id", how="left")
        risk["churn_probability"] = 1.0 - risk.pop("p_alive")
        source = "1 - P(alive)"
    else:
        risk["churn_probability"] = np.nan
        source = "none"
    risk["value_at_risk"] = risk["churn_probability"] * risk["revenue_last_365"]
    return risk, source


def probabilistic_reasons(features: pd.DataFrame, p_alive: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """Why 1 - P(alive) is high: days of silence against the customer's own rhythm.

    `features` are churn features (recency_days, frequency = purchase days, tenure_days)."""
    out: list[list[dict[str, Any]]] = []
    recency = features["recency_days"].to_numpy(dtype="float64")
    days = features["frequency"].to_numpy(dtype="float64")
    tenure = features["tenure_days"].to_numpy(dtype="float64")
    typical_recency = float(np.median(recency)) if recency.size else 0.0
    label = "days since last purchase"
    for i in range(recency.size):
        silent = int(recency[i])
        if days[i] >= 2:
            gap = (tenure[i] - recency[i]) / (days[i] - 1)
            parts = [{"feature": "recency_days", "label": label, "value": float(silent),
                      "typical": round(float(gap), 1), "contribution": None,
                      "text": f"{label}: {silent} (usually bought every {gap:,.0f} days)"}]
        else:
            parts = [{"feature": "recency_days", "label": label, "value": float(silent),
                      "typical": typical_recency, "contribution": None,
                      "text": f"{label}: {silent} (one purchase only; typical customer {typical_recency:,.0f})"}]
        if p_alive is not None and np.isfinite(p_alive[i]):
            parts.append({"feature": "p_alive", "label": "P(alive)", "value": float(p_alive[i]), "typical": None,
                          "contribution": None,
                          "text": f"probability still a customer: {100 * float(p_alive[i]):.0f}%"})
        out.append(parts)
    return out


def risk_reasons(features: pd.DataFrame, validation: ChurnValidation | None,
                 p_alive: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """The reasons behind each customer's churn probability, the one builder every caller uses:
    the supervised model's main drivers when it was trained (ChurnModel.reason_details), else the
    silence against the customer's own rhythm (probabilistic_reasons, with P(alive) when given).

    `features` are churn features of the customers (in the order of the result)."""
    if features.empty:
        return []
    if validation is not None:
        return validation.model.reason_details(features)
    return probabilistic_reasons(features, p_alive)


def rank_risk(risk: pd.DataFrame, current: pd.DataFrame, validation: ChurnValidation | None,
              customers: pd.DataFrame, size: int) -> pd.DataFrame:
    """The `size` customers with the largest positive value at risk, largest first.

    `customers` holds per-customer columns to show (segment, last_purchase, p_alive when fitted).
    Columns: customer_id, churn_probability, revenue_last_365, value_at_risk, segment,
    last_purchase, [p_alive], days_since_last_purchase, reason_details (list of dicts: feature,
    label, value, typical, contribution, text), reasons (the same as one line of text)."""
    top = risk[risk["value_at_risk"] > 0].sort_values(["value_at_risk", "customer_id"],
                                                      ascending=[False, True], kind="stable").head(size)
    out = top[["customer_id", "churn_probability", "revenue_last_365", "value_at_risk"]]
    shown = ["customer_id", "segment", "last_purchase"] + (["p_alive"] if "p_alive" in customers else [])
    out = out.merge(customers[shown], on="customer_id", how="left")
    feats = current.set_index("customer_id").loc[out["customer_id"]].reset_index()
    out["days_since_last_purchase"] = feats["recency_days"].to_numpy(dtype="int64")
    alive = out["p_alive"].to_numpy(dtype="float64") if "p_alive" in out else None
    details = risk_reasons(feats, validation, alive)
    out["reason_details"] = details
    out["reasons"] = [reasons_text(d) for d in details]
    return out.reset_index(drop=True)


def churn_risk_list(
    table: ibis.Table,
    *,
    observation_end: dt.date | str | pd.Timestamp,
    horizon_days: int = 90,
    size: int = 100,
    model: str = "bgnbd",
    customers: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    seed: int = 0,
    customer_col: str = "customer_id",
    date_col: str = "occurred_at",
    value_col: str = "amount",
) -> RiskList:
    """The report's churn-risk list straight from a transactions table (any Ibis backend).

    Same steps and settings as `pipeline.analyze` for this list (summary, RFM segment, transaction
    model for P(alive), supervised model validated on the later period), without the rest of
    the report. `customers` must hold static attributes only and `events` is the dated side table
    (see churn.churn_features). Raises AnalyticsInputError when there is no purchase up to the
    observation end."""
    from loyalist.analytics import clv_pipeline
    from loyalist.analytics.rfm import score_rfm
    from loyalist.analytics.summary import observed_range, summary_data

    kw: dict[str, Any] = {"customer_col": customer_col, "date_col": date_col, "value_col": value_col}
    end = pd.Timestamp(observation_end).normalize()
    first, _ = observed_range(table, date_col=date_col)
    full = summary_data(table, observation_end=end, **kw)
    if full.empty:
        raise AnalyticsInputError("no purchases (rows with a non-negative amount) up to the observation end")
    notes: list[str] = []
    shown = score_rfm(full, observation_end=end)[["customer_id", "segment"]].merge(
        full[["customer_id", "last_purchase"]], on="customer_id")
    p_alive = None
    try:
        tx_model = clv_pipeline.fit_transaction_model(full, model=model)
        p_alive = clv_pipeline.predict_customers(full, tx_model, None)[["customer_id", "p_alive"]]
        shown = shown.merge(p_alive, on="customer_id", how="left")
    except (AnalyticsInputError, ValueError, FloatingPointError) as exc:
        notes.append(f"transaction model skipped: {exc}")
    if events is not None and not events.empty:
        events = normalise_events(events)
    current = churn_features(table, as_of=end, customers=customers, feedback=feedback, events=events, **kw)
    validation = None
    metrics: dict[str, Any] = {}
    try:
        validation = validate_churn_model(table, observation_end=end, horizon_days=horizon_days,
                                          customers=customers, feedback=feedback, events=events, seed=seed,
                                          first_date=first, current_features=current, **kw)
        metrics = {k: validation.metrics[k] for k in ("auc", "precision_at_k", "k", "base_rate", "n")}
        metrics["train_as_of"] = validation.train_as_of.date().isoformat()
        metrics["validated_on"] = f"{validation.valid_as_of.date()} .. {end.date()}"
    except (AnalyticsInputError, ValueError) as exc:
        notes.append(f"supervised churn model skipped: {exc}")
    risk, source = score_risk(current, validation, p_alive)
    rows = rank_risk(risk, current, validation, shown, size)
    return RiskList(rows=rows, source=source, horizon_days=horizon_days,
                    revenue_at_risk=float(np.nansum(risk["value_at_risk"].to_numpy())), metrics=metrics,
                    notes=notes)

"""Public shapes of the scores domain (reads and the outcome of a refresh)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

CHURN_SOURCES = ("supervised", "1 - p_alive", "recency")


class ChurnReason(BaseModel):
    """One driver of a customer's churn risk: the customer's value next to the typical one."""

    feature: str
    label: str
    value: float | None
    typical: float | None
    contribution: float | None  # churn probability points this feature adds (supervised model)
    text: str


class ScoreRead(BaseModel):
    customer_id: int
    recency_days: int
    purchase_days: int
    last_purchase_on: datetime
    rfm_r: int
    rfm_f: int
    rfm_m: int
    rfm_score: str
    rfm_segment: str
    p_alive: float | None
    churn_risk: float | None
    previous_churn_risk: float | None
    churn_source: str
    churn_reasons: list[ChurnReason]
    value_at_risk: Decimal | None = None  # churn_risk x revenue of the last 365 days
    expected_purchases_90d: float | None
    predicted_clv: Decimal | None
    historical_clv: Decimal
    model: str
    computed_at: datetime


class ScorePage(BaseModel):
    items: list[ScoreRead]
    total: int
    limit: int
    offset: int


class RefreshResult(BaseModel):
    run_id: int
    as_of: datetime
    customers: int
    removed: int
    model: str
    churn_source: str
    metrics: dict[str, Any]
    notes: list[str]
    seconds: float

"""The latest analytics scores per customer, and one row per refresh run.

Why a table of its own: segments, automations and the console filter on RFM segment, churn
risk and predicted CLV with plain SQL, so the scores must live next to the operational data
instead of inside a report file. A refresh replaces every row in one transaction; the previous
churn risk is kept so a trigger can see a threshold being crossed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, MoneyType, UTCDateTime


class CustomerScore(Base):
    __tablename__ = "customer_scores"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    recency_days: Mapped[int] = mapped_column(Integer, nullable=False)
    purchase_days: Mapped[int] = mapped_column(Integer, nullable=False)
    last_purchase_on: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rfm_r: Mapped[int] = mapped_column(Integer, nullable=False)
    rfm_f: Mapped[int] = mapped_column(Integer, nullable=False)
    rfm_m: Mapped[int] = mapped_column(Integer, nullable=False)
    rfm_score: Mapped[str] = mapped_column(String(3), nullable=False)
    rfm_segment: Mapped[str] = mapped_column(String(30), nullable=False)
    p_alive: Mapped[float | None] = mapped_column(Float, nullable=True)
    churn_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    previous_churn_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    churn_source: Mapped[str] = mapped_column(String(20), nullable=False)
    churn_reasons: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    # churn_risk x revenue of the last 365 days (analytics.risk.score_risk): the report's ranking
    value_at_risk: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    expected_purchases_90d: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_clv: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    historical_clv: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    model: Mapped[str] = mapped_column(String(40), nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # Segment rules filter on these (see docs/segments.md, "Indexes").
        Index("ix_customer_scores_rfm_segment", "rfm_segment"),
        Index("ix_customer_scores_churn_risk", "churn_risk"),
        Index("ix_customer_scores_predicted_clv", "predicted_clv"),
        Index("ix_customer_scores_value_at_risk", "value_at_risk"),
    )


class ScoreRun(Base):
    """One refresh: when, as of which date, how many customers, which models and their quality."""

    __tablename__ = "score_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    customers: Mapped[int] = mapped_column(Integer, nullable=False)
    removed: Mapped[int] = mapped_column(Integer, nullable=False)
    model: Mapped[str] = mapped_column(String(40), nullable=False)
    churn_source: Mapped[str] = mapped_column(String(20), nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    notes: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

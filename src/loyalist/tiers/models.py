"""Tier tables: definitions, each customer's current status, and the history of changes.

Private to the tiers domain; other domains read tiers through `loyalist.tiers.service`.
The status row is keyed by customer, so a customer has at most one current tier.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, MoneyType, UTCDateTime


class TierDefinition(Base):
    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    rank: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    metric: Mapped[str] = mapped_column(String(20), nullable=False)  # "points" | "spend"
    window_days: Mapped[int] = mapped_column(Integer, nullable=False)
    threshold: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    multiplier: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    benefits: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    grace_days: Mapped[int] = mapped_column(Integer, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CustomerTier(Base):
    """The customer's tier right now; `grace_until` is set while they are below its threshold."""

    __tablename__ = "customer_tiers"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    metric_value: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_customer_tiers_tier_id", "tier_id"),)


class TierHistory(Base):
    """One row per change: upgrade, downgrade, grace start/clear, merge, manual."""

    __tablename__ = "tier_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    from_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), nullable=True)
    to_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(30), nullable=False)
    metric_value: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_tier_history_customer", "customer_id", "at"),)

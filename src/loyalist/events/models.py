"""Ingested events and declarative earning rules (private to the events domain).

- `events`: every incoming event, once. `UNIQUE(source, idempotency_key)` makes replays safe;
  `payload_hash` tells a replay (same payload) from a conflict (other payload). `points` and
  `outcome` keep what the event did, so a replay returns exactly the first answer.
- `earning_rules`: rules as data (kind, JSON conditions and parameters validated by Pydantic),
  with priority, stacking, caps, budget and an active window.
- `rule_awards`: points each rule gave each customer, keyed by the business-timezone day and
  month of the event, so per-day/per-month caps are one indexed SUM.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    payload_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    points: Mapped[int] = mapped_column(BigInteger, nullable=False)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)

    __table_args__ = (
        UniqueConstraint("source", "idempotency_key", name="uq_events_source_key"),
        Index("ix_events_customer_occurred", "customer_id", "occurred_at"),
    )


class EarningRule(Base):
    __tablename__ = "earning_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    stacking: Mapped[str] = mapped_column(String(10), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    cap_per_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cap_per_month: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_used: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pending_days: Mapped[int] = mapped_column(Integer, nullable=False)
    expiry_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RuleAward(Base):
    __tablename__ = "rule_awards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("earning_rules.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), nullable=False, index=True)
    points: Mapped[int] = mapped_column(BigInteger, nullable=False)
    local_day: Mapped[date] = mapped_column(Date, nullable=False)
    local_month: Mapped[str] = mapped_column(String(7), nullable=False)

    __table_args__ = (
        Index("ix_rule_awards_rule_customer_day", "rule_id", "customer_id", "local_day"),
        Index("ix_rule_awards_rule_customer_month", "rule_id", "customer_id", "local_month"),
    )

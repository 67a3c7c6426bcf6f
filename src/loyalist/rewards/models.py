"""Rewards catalogue, redemptions and vouchers (private to the rewards domain)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, MoneyType, UTCDateTime


class Reward(Base):
    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    cost_points: Mapped[int] = mapped_column(Integer, nullable=False)
    value: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    # NULL = unlimited; decremented only by a guarded UPDATE (stock > 0).
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redeemed_count: Mapped[int] = mapped_column(Integer, nullable=False)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    voucher_validity_days: Mapped[int] = mapped_column(Integer, nullable=False)
    limit_per_customer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_per_period: Mapped[int | None] = mapped_column(Integer, nullable=True)
    period_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_tier_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tier_codes: Mapped[list[Any] | None] = mapped_column(JSONDoc, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Redemption(Base):
    __tablename__ = "reward_redemptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    reward_id: Mapped[int] = mapped_column(BigId, ForeignKey("rewards.id"), nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # active | cancelled
    ledger_entry_id: Mapped[int] = mapped_column(BigId, nullable=False)
    reversal_entry_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_reward_redemptions_idempotency_key"),
        Index("ix_reward_redemptions_customer_reward", "customer_id", "reward_id", "created_at"),
    )


class Voucher(Base):
    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    redemption_id: Mapped[int] = mapped_column(BigId, ForeignKey("reward_redemptions.id"), unique=True,
                                               nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    reward_id: Mapped[int] = mapped_column(BigId, ForeignKey("rewards.id"), nullable=False)
    # issued -> consumed | void | expired; every transition is a guarded UPDATE from 'issued'.
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consumed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    store: Mapped[str | None] = mapped_column(String(100), nullable=True)
    order_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_vouchers_customer", "customer_id", "status"),
        Index("ix_vouchers_status_expires", "status", "expires_at"),
    )

"""Offer definitions, offers issued to customers and event RSVPs (private to the offers domain)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, MoneyType, UTCDateTime


class Offer(Base):
    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    # voucher | points | percent | amount | none
    reward_type: Mapped[str] = mapped_column(String(20), nullable=False)
    reward_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rewards.id"), nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    discount_value: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    max_discount: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    code_validity_days: Mapped[int] = mapped_column(Integer, nullable=False)
    segment_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    min_purchases: Mapped[int | None] = mapped_column(Integer, nullable=True)
    purchase_window_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rfm_segments: Mapped[list[Any] | None] = mapped_column(JSONDoc, nullable=True)
    per_customer_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    lead_days: Mapped[int] = mapped_column(Integer, nullable=False)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    location: Mapped[str | None] = mapped_column(String(300), nullable=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recommendation_count: Mapped[int] = mapped_column(Integer, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class IssuedOffer(Base):
    """One offer given to one customer. `issue_key` makes every issuing path idempotent
    (birthday: offer+customer+year, campaign: campaign+customer, manual: caller's key)."""

    __tablename__ = "offer_issues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    offer_id: Mapped[int] = mapped_column(BigId, ForeignKey("offers.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    issue_key: Mapped[str] = mapped_column(String(200), nullable=False)
    variant: Mapped[str] = mapped_column(String(30), nullable=False)
    headline: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # issued -> redeemed | expired | void
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    order_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cost: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        UniqueConstraint("issue_key", name="uq_offer_issues_issue_key"),
        UniqueConstraint("code", name="uq_offer_issues_code"),
        Index("ix_offer_issues_customer", "customer_id", "status"),
        Index("ix_offer_issues_offer", "offer_id", "customer_id"),
        Index("ix_offer_issues_campaign", "campaign_id"),
    )


class Rsvp(Base):
    """A customer's answer to an event invitation; seats are held by status 'confirmed' only."""

    __tablename__ = "offer_rsvps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    offer_id: Mapped[int] = mapped_column(BigId, ForeignKey("offers.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("offer_issues.id"), nullable=False)
    response: Mapped[str] = mapped_column(String(10), nullable=False)  # yes | no | maybe
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # confirmed | waitlisted | declined | maybe
    responded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("offer_id", "customer_id", name="uq_offer_rsvps_offer_customer"),
        Index("ix_offer_rsvps_offer_status", "offer_id", "status"),
    )

"""Campaigns and their audience snapshot (private to the campaigns domain)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, MoneyType, UTCDateTime


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    # draft -> scheduled -> running -> finished; draft|scheduled -> cancelled
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    segment_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    customer_ids: Mapped[list[Any] | None] = mapped_column(JSONDoc, nullable=True)
    offer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("offers.id"), nullable=True)
    template: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    budget: Mapped[Decimal | None] = mapped_column(MoneyType, nullable=True)
    committed: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    message_cost: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    control_percent: Mapped[int] = mapped_column(Integer, nullable=False)
    seed: Mapped[str] = mapped_column(String(64), nullable=False)
    stratified_by: Mapped[str | None] = mapped_column(String(10), nullable=True)
    attribution_days: Mapped[int] = mapped_column(Integer, nullable=False)
    retention_days: Mapped[int] = mapped_column(Integer, nullable=False)
    margin: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CampaignMember(Base):
    """The audience frozen at launch: who was in it, which group, which stratum, what was sent."""

    __tablename__ = "campaign_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    group: Mapped[str] = mapped_column("grp", String(10), nullable=False)  # treatment | control
    stratum: Mapped[str] = mapped_column(String(60), nullable=False)
    # treatment only: sent | budget (not sent: budget reached) ; control: held_out
    outcome: Mapped[str] = mapped_column(String(12), nullable=False)
    issue_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_members_campaign_customer"),
        Index("ix_campaign_members_customer", "customer_id"),
    )

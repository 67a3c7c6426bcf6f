"""The customer timeline: one row per thing that happened between the business and a customer.

Bulk event import writes one row per purchase/return, so the table is append-mostly and read
per customer newest-first; the (customer_id, occurred_at) index serves exactly that read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Interaction(Base):
    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # By table name: interactions sits beside customers and must not import its models.
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(120), nullable=True)
    source_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    source_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)

    __table_args__ = (
        Index("ix_interactions_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_interactions_source", "source_type", "source_id"),
    )

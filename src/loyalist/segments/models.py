"""Segments (dynamic rules or static lists), static members and membership snapshots.

Snapshots materialise who was in a segment at a moment, so a campaign's audience (and its
control group) stays fixed while the customers themselves keep changing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # dynamic | static
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)


class SegmentMember(Base):
    """An explicit member of a static segment."""

    __tablename__ = "segment_members"

    segment_id: Mapped[int] = mapped_column(BigId, ForeignKey("segments.id"), primary_key=True,
                                            autoincrement=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    added_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_segment_members_customer", "customer_id"),)


class SegmentSnapshot(Base):
    __tablename__ = "segment_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(BigId, ForeignKey("segments.id"), nullable=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    member_count: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_segment_snapshots_segment", "segment_id", "taken_at"),)


class SegmentSnapshotMember(Base):
    __tablename__ = "segment_snapshot_members"

    snapshot_id: Mapped[int] = mapped_column(BigId, ForeignKey("segment_snapshots.id"), primary_key=True,
                                             autoincrement=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)

    __table_args__ = (Index("ix_segment_snapshot_members_customer", "customer_id"),)

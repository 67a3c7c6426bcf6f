"""Automations, their runs, scheduled actions and the holiday calendar (private to automation)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Automation(Base):
    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    trigger_type: Mapped[str] = mapped_column(String(30), nullable=False)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    actions: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    max_runs_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # high-water mark of the timeline scan (event triggers): interactions with a larger id are new
    cursor_interaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Late-commit sweep (PostgreSQL allocates ids before commit, so a row can become visible
    # after the mark has passed it): rows in (settled_interaction_id, cursor] are scanned again
    # until they are older than the settle window; `settle_candidate_*` is the mark that becomes
    # `settled` once its time is a window old. Runs are unique per instance, so a re-scan never
    # fires twice.
    settled_interaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    settle_candidate_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    settle_candidate_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AutomationRun(Base):
    """One firing for one customer and one trigger instance (birthday-2027, interaction-991...)."""

    __tablename__ = "automation_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    automation_id: Mapped[int] = mapped_column(BigId, ForeignKey("automations.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    instance_key: Mapped[str] = mapped_column(String(100), nullable=False)
    trigger_data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    # scheduled (delayed actions pending) | done | partial (some actions failed) | failed
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("automation_id", "customer_id", "instance_key", name="uq_automation_runs_instance"),
        Index("ix_automation_runs_automation_created", "automation_id", "created_at"),
        Index("ix_automation_runs_customer", "customer_id"),
    )


class AutomationAction(Base):
    """One action of a run; delayed ones wait as `pending` until `due_at`."""

    __tablename__ = "automation_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("automation_runs.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(30), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # pending -> done | failed | skipped (guarded UPDATE from 'pending')
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("run_id", "position", name="uq_automation_actions_run_position"),
        Index("ix_automation_actions_status_due", "status", "due_at"),
    )


class Holiday(Base):
    """A dated holiday of the business calendar (one row per year: dates move, e.g. Easter)."""

    __tablename__ = "automation_holidays"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)

    __table_args__ = (UniqueConstraint("code", "day", name="uq_automation_holidays_code_day"),)

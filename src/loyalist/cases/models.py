"""Complaint cases, their history, recovery actions, SLA configuration, routing and staff flags
(private to the cases domain)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # NULL only for a public review/mention whose author is not (yet) a known customer.
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    category: Mapped[str] = mapped_column(String(50), nullable=False)
    severity: Mapped[str] = mapped_column(String(20), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(30), nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)
    routing_rule_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    source_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    source_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sla_policy: Mapped[str] = mapped_column(String(30), nullable=False)
    # Acknowledgement / apology (the first step of service recovery) and first response.
    ack_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    ack_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # SLA clock. `resolution_due_at` is NULL while paused (waiting for the customer); the unspent
    # business seconds are kept in `sla_remaining_seconds` and re-applied on resume.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_remaining_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, nullable=False)
    escalated_to_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Follow-up contact and satisfaction check.
    csat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    followed_up_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_cases_state_severity", "state", "severity"),
        Index("ix_cases_assignee_state", "assignee_id", "state"),
    )


class CaseEvent(Base):
    """Append-only history of a case: transitions, comments, assignments, actions, escalations."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CaseAction(Base):
    """An action taken for the customer: a plain action, or a compensation (points, voucher,
    gesture). Compensations carry `compensation_key` (unique per case) so a retry finds the
    first row instead of compensating twice."""

    __tablename__ = "case_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # action | points | voucher | gesture
    description: Mapped[str] = mapped_column(Text, nullable=False)
    compensation_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reward_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    redemption_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    voucher_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "compensation_key", name="uq_case_actions_compensation"),)


class CaseEscalation(Base):
    """One escalation to a manager; `dedupe_key` (reason and reopen cycle) makes the breach scan
    re-runnable without escalating the same breach twice."""

    __tablename__ = "case_escalations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(80), nullable=False)
    manager_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "dedupe_key", name="uq_case_escalations_dedupe"),)


class SlaPolicy(Base):
    """Business-minute budgets per severity (and `public_response` for reviews/mentions)."""

    __tablename__ = "case_sla_policies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    first_response_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    resolution_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BusinessHours(Base):
    """Weekly calendar: one row per opening interval (minutes after local midnight)."""

    __tablename__ = "case_business_hours"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)
    opens_minute: Mapped[int] = mapped_column(Integer, nullable=False)
    closes_minute: Mapped[int] = mapped_column(Integer, nullable=False)


class Holiday(Base):
    __tablename__ = "case_holidays"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)


class CaseCategory(Base):
    __tablename__ = "case_categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)


class RoutingRule(Base):
    """Whom to ask: category -> product expert (staff user) and/or team; escalation manager."""

    __tablename__ = "case_routing_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)
    manager_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StaffFlag(Base):
    """A staff member's signal that a customer is unhappy; a manager confirms or dismisses it."""

    __tablename__ = "staff_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False, index=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=False)
    reason_code: Mapped[str] = mapped_column(String(40), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # open | confirmed | dismissed
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_staff_flags_status", "status", "created_at"),)


class StaffRecognition(Base):
    """Recognition points for staff (not the customer points ledger): one row per confirmed flag."""

    __tablename__ = "staff_recognition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id"), nullable=False, index=True)
    flag_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_flags.id"), unique=True, nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)  # YYYY-MM in the business timezone
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

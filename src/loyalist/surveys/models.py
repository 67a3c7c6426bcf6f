"""Survey tables (private to the surveys domain).

Questions live as a JSON document on the survey row: a survey is read and validated as a whole,
and once answered it is frozen (a change makes a new version), so there is nothing to join.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)  # nps | csat | relationship | exit | custom
    template_code: Mapped[str | None] = mapped_column(String(50), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("surveys.id"), nullable=True)
    default_locale: Mapped[str] = mapped_column(String(10), nullable=False)
    locales: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    title: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)  # locale -> text
    questions: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # active | closed
    # per-survey secret of the anonymous link; NULL = anonymous answering is off
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    link_valid_days: Mapped[int] = mapped_column(Integer, nullable=False)
    reminder_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_reminders: Mapped[int] = mapped_column(Integer, nullable=False)
    award_points: Mapped[bool] = mapped_column(Boolean, nullable=False)
    response_count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SurveyInvitation(Base):
    """One personal invitation. Also the single-use record of its signed link (`jti`):
    answering moves status to 'answered' by a guarded UPDATE, so a second submit finds nothing
    to move. Refused invitations (fatigue cap, already invited, inactive customer) are kept with
    status 'skipped' and the reason."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(BigId, ForeignKey("surveys.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # sent | answered | skipped
    skip_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    jti: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_count: Mapped[int] = mapped_column(Integer, nullable=False)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        Index("ix_survey_invitations_customer_created", "customer_id", "created_at"),
        Index("ix_survey_invitations_survey_status", "survey_id", "status"),
    )


class SurveyResponse(Base):
    """A submitted answer set. Headline scores are copied out of `answers` so results are plain
    SQL; tier, store and tags are the customer's at answering time (segments move, history must not)."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(BigId, ForeignKey("surveys.id"), nullable=False)
    survey_version: Mapped[int] = mapped_column(Integer, nullable=False)
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"), nullable=True)
    invitation_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("survey_invitations.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False)
    nps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ces: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exit_reasons: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    tier_code: Mapped[str | None] = mapped_column(String(50), nullable=True)
    store: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tags: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        UniqueConstraint("invitation_id", name="uq_survey_responses_invitation"),
        Index("ix_survey_responses_survey_submitted", "survey_id", "submitted_at"),
        Index("ix_survey_responses_customer", "customer_id"),
    )

"""Feedback storage (private to the feedback domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class FeedbackItem(Base):
    """One analysed text: survey free-text answer, complaint, review or social-media mention."""

    __tablename__ = "feedback_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"), nullable=True)
    source_type: Mapped[str] = mapped_column(String(30), nullable=False)
    source_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Imported reviews/mentions: the platform and its id (idempotency key of imports and the webhook).
    platform: Mapped[str | None] = mapped_column(String(50), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    language_confidence: Mapped[float] = mapped_column(Float, nullable=False)
    sentiment: Mapped[str] = mapped_column(String(10), nullable=False)
    sentiment_score: Mapped[float] = mapped_column(Float, nullable=False)
    sentiment_source: Mapped[str] = mapped_column(String(10), nullable=False)
    # [{"code", "matched": [...], "source": lexicon|model|staff, "confidence"}]
    tags: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score_scale: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Training labels: reason codes known to be right (exit reasons, staff-corrected tag sets).
    labels: Mapped[list[Any] | None] = mapped_column(JSONDoc, nullable=True)
    sentiment_label: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Has reason labels or a sentiment label: training reads only these rows.
    labelled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    corrected: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_question: Mapped[bool] = mapped_column(Boolean, nullable=False)
    needs_answer: Mapped[bool] = mapped_column(Boolean, nullable=False)
    needs_answer_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    model_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    erased: Mapped[bool] = mapped_column(Boolean, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("source_type", "source_id", name="uq_feedback_items_source"),
        UniqueConstraint("platform", "external_id", name="uq_feedback_items_platform_external"),
        Index("ix_feedback_items_customer", "customer_id", "occurred_at"),
        Index("ix_feedback_items_occurred", "occurred_at"),
        Index("ix_feedback_items_labelled", "labelled"),
    )


class FeedbackItemTag(Base):
    """One row per (item, reason code): the themes view aggregates these in SQL."""

    __tablename__ = "feedback_item_tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("feedback_items.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sentiment: Mapped[str] = mapped_column(String(10), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("item_id", "code", name="uq_feedback_item_tags_item_code"),
        Index("ix_feedback_item_tags_occurred", "occurred_at", "code"),
    )


class FeedbackCorrection(Base):
    """A staff correction of an item's tags or sentiment (audited; becomes training data)."""

    __tablename__ = "feedback_corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("feedback_items.id"), nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)  # add_tag | remove_tag | set_sentiment
    value: Mapped[str] = mapped_column(String(40), nullable=False)
    previous: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_feedback_corrections_item", "item_id"),)


class FeedbackModelRun(Base):
    """One `feedback train` run: cross-validated figures, the decision, and the fitted model."""

    __tablename__ = "feedback_models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    n_samples: Mapped[int] = mapped_column(Integer, nullable=False)
    n_tag_samples: Mapped[int] = mapped_column(Integer, nullable=False)
    n_sentiment_samples: Mapped[int] = mapped_column(Integer, nullable=False)
    folds: Mapped[int] = mapped_column(Integer, nullable=False)
    model_tag_f1: Mapped[float | None] = mapped_column(Float, nullable=True)
    lexicon_tag_f1: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_sentiment_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    lexicon_sentiment_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    use_for_tags: Mapped[bool] = mapped_column(Boolean, nullable=False)
    use_for_sentiment: Mapped[bool] = mapped_column(Boolean, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    classes: Mapped[list[Any]] = mapped_column(JSONDoc, nullable=False)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

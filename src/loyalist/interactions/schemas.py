"""Public shapes and vocabularies of the customer timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

KINDS: frozenset[str] = frozenset({
    "purchase", "return", "call", "email", "sms", "social_post", "visit", "complaint", "survey_answer",
    "note", "points_change", "reward_redeemed", "voucher", "tier_change", "message", "case_update",
    "profile_change", "consent_change", "merge", "referral", "review", "custom",
    # listening and acting domains
    "task", "offer", "staff_flag", "mention", "invitation", "automation", "campaign", "portal",
})
CHANNELS: frozenset[str] = frozenset({
    "in_store", "online", "phone", "email", "sms", "social", "web", "app", "portal", "api", "system",
})
DIRECTIONS: frozenset[str] = frozenset({"inbound", "outbound", "internal"})

MAX_SUMMARY = 4000


class InteractionCreate(BaseModel):
    """What staff or an integration logs by hand (a call, a visit, a note...)."""

    kind: str = Field(examples=["call"])
    channel: str = Field(examples=["phone"])
    summary: str = Field(max_length=MAX_SUMMARY)
    direction: str = "internal"
    occurred_at: datetime | None = None
    source_type: str | None = Field(default=None, max_length=50)
    source_id: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] | None = None


class InteractionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    occurred_at: datetime
    recorded_at: datetime
    kind: str
    channel: str
    direction: str
    summary: str
    staff_id: int | None
    actor: str | None
    source_type: str | None
    source_id: str | None
    data: dict[str, Any] | None


class InteractionPage(BaseModel):
    items: list[InteractionRead]
    total: int
    limit: int
    offset: int

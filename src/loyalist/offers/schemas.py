"""Public shapes of the offers domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalist.types import MAX_ROW_ID, RowId

MAX_ID = MAX_ROW_ID
Id = RowId

KINDS = ("birthday", "regulars_exclusive", "recommendation", "event_invitation", "generic")
REWARD_TYPES = ("voucher", "points", "percent", "amount", "none")
ISSUE_STATUSES = ("issued", "redeemed", "expired", "void")
RSVP_RESPONSES = ("yes", "no", "maybe")
VARIANTS = ("personal_greeting", "early_access", "discount", "gift", "convenience", "standard")

OfferKind = Literal["birthday", "regulars_exclusive", "recommendation", "event_invitation", "generic"]
RewardType = Literal["voucher", "points", "percent", "amount", "none"]


class _OfferFields(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferCreate(_OfferFields):
    name: str = Field(min_length=1, max_length=200)
    kind: OfferKind
    description: str = Field(default="", max_length=4000)
    reward_type: RewardType = "none"
    reward_id: Id | None = Field(default=None, description="catalogue reward (reward_type=voucher)")
    points: int | None = Field(default=None, gt=0, le=10_000_000, description="bonus points (reward_type=points)")
    discount_value: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"), description="percent or amount")
    max_discount: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"),
        description="cap of a percent discount (budgeting)")
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    code_validity_days: int = Field(default=30, ge=1, le=3650)
    segment_id: Id | None = None
    rule: dict[str, Any] | None = Field(default=None, description="segment rule (alternative to segment_id)")
    min_purchases: int | None = Field(default=None, ge=1, description="regulars: purchases in the window")
    purchase_window_days: int | None = Field(default=None, ge=1, le=3650)
    rfm_segments: list[str] | None = Field(default=None, description="regulars: allowed RFM segments")
    per_customer_limit: int = Field(default=1, ge=1, le=1000)
    lead_days: int = Field(default=7, ge=0, le=31, description="birthday: days before the birthday to issue")
    event_at: datetime | None = None
    location: str | None = Field(default=None, max_length=300)
    capacity: int | None = Field(default=None, ge=1)
    recommendation_count: int = Field(default=3, ge=1, le=20)
    active: bool = True


class OfferUpdate(_OfferFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    capacity: int | None = Field(default=None, ge=1)
    per_customer_limit: int | None = Field(default=None, ge=1, le=1000)
    active: bool | None = None


class OfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    description: str
    reward_type: str
    reward_id: int | None
    points: int | None
    discount_value: Decimal | None
    max_discount: Decimal | None
    valid_from: datetime | None
    valid_until: datetime | None
    code_validity_days: int
    segment_id: int | None
    rule: dict[str, Any] | None
    min_purchases: int | None
    purchase_window_days: int | None
    rfm_segments: list[str] | None
    per_customer_limit: int
    lead_days: int
    event_at: datetime | None
    location: str | None
    capacity: int | None
    recommendation_count: int
    active: bool
    created_at: datetime
    updated_at: datetime


class IssuedOfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    offer_id: int
    customer_id: int
    issue_key: str
    variant: str
    headline: str
    body: str
    code: str | None
    status: str
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    order_ref: str | None
    cost: Decimal | None
    campaign_id: int | None
    data: dict[str, Any]


class CustomerOffer(BaseModel):
    """What the portal shows: the issued offer, its definition's kind and the RSVP if any."""

    issue: IssuedOfferRead
    kind: str
    name: str
    reward_type: str
    event_at: datetime | None
    location: str | None
    rsvp: str | None


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Id
    issue_key: str | None = Field(default=None, max_length=200)


class AudienceIssueResult(BaseModel):
    offer_id: int
    eligible: int
    issued: int
    already: int
    skipped: int


class RedeemCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"),
        description="order total, for percent discounts")
    order_ref: str | None = Field(default=None, max_length=100)


class RsvpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Id
    response: Literal["yes", "no", "maybe"]


class RsvpRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    offer_id: int
    customer_id: int
    issue_id: int
    response: str
    status: str
    responded_at: datetime
    waitlist_position: int | None = None


class RsvpSummary(BaseModel):
    offer_id: int
    capacity: int | None
    confirmed: int
    waitlisted: int
    maybe: int
    declined: int
    rsvps: list[RsvpRead]


class Recommendation(BaseModel):
    sku: str
    score: float
    source: Literal["co_purchase", "popular_in_category", "popular"]
    category: str | None = None


class BirthdayRunResult(BaseModel):
    as_of: datetime
    issued: int
    already: int


__all__ = [
    "KINDS", "REWARD_TYPES", "ISSUE_STATUSES", "RSVP_RESPONSES", "VARIANTS", "OfferCreate", "OfferUpdate",
    "OfferRead", "IssuedOfferRead", "CustomerOffer", "IssueRequest", "AudienceIssueResult", "RedeemCodeRequest",
    "RsvpRequest", "RsvpRead", "RsvpSummary", "Recommendation", "BirthdayRunResult",
]

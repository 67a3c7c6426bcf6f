"""Public shapes of event ingestion and earning rules.

Rules are data: `conditions` and `params` are JSON validated by the Pydantic models below
(`extra="forbid"`, so a typo is an error, never a silently ignored key). Nothing is evaluated
as code.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.-]{0,49}$"
EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
BUILTIN_TYPES = frozenset({"purchase", "return", "refund", "review", "referral", "promotion",
                           "survey_completed", "birthday"})
MAX_BATCH = 1000


class EventLineIn(BaseModel):
    """A purchase line (sku, category, quantity, unit_price, discount) or a returned line
    (sku and quantity; the value is taken from the original purchase line)."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=100)
    quantity: int = Field(default=1, ge=1)
    unit_price: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    discount: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e12"))


class CustomerRef(BaseModel):
    """A customer by internal id or by the integrator's external id (created when unknown)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one(self) -> CustomerRef:
        if self.customer_id is None and self.external_id is None:
            raise ValueError("customer_id or external_id is required")
        return self


class EventIn(BaseModel):
    """One incoming event. Which fields matter depends on `type`:

    - purchase: order_ref, currency, lines (or net_amount), discount_amount, store, channel
    - return / refund: order_ref and either lines (sku+quantity), amount, or nothing (= full)
    - referral: the event's customer is the referrer; `referred` names the new customer
    - review, promotion, survey_completed, birthday, custom names: `data` is kept as given
    """

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    idempotency_key: str = Field(min_length=1, max_length=200)
    source: str = Field(default="api", min_length=1, max_length=100)
    customer_id: int | None = None
    customer_external_id: str | None = Field(default=None, min_length=1, max_length=100)
    occurred_at: datetime | None = None
    order_ref: str | None = Field(default=None, min_length=1, max_length=100)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    lines: list[EventLineIn] = Field(default_factory=list, max_length=1000)
    net_amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    discount_amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    amount: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"))
    store: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=50)
    referred: CustomerRef | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone (e.g. 2026-03-01T10:00:00Z)")
        return value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @model_validator(mode="after")
    def _by_type(self) -> EventIn:
        if self.customer_id is None and self.customer_external_id is None:
            raise ValueError("customer_id or customer_external_id is required")
        if self.type == "purchase":
            if not self.order_ref:
                raise ValueError("order_ref is required for a purchase")
            if not self.lines and self.net_amount is None:
                raise ValueError("lines or net_amount is required for a purchase")
            for i, line in enumerate(self.lines):
                if line.unit_price is None:
                    raise ValueError(f"lines[{i}].unit_price is required for a purchase line")
        elif self.type in ("return", "refund"):
            if not self.order_ref:
                raise ValueError("order_ref is required for a return")
            for i, line in enumerate(self.lines):
                if not line.sku:
                    raise ValueError(f"lines[{i}].sku is required for a returned line")
        elif self.type == "referral" and self.referred is None:
            raise ValueError("referred is required for a referral")
        return self


class RuleOutcome(BaseModel):
    """One rule's verdict on one event: fired or not, the points, and the arithmetic or reason."""

    rule_id: int
    name: str
    kind: str
    fired: bool
    points: int = 0
    customer_id: int | None = None
    arithmetic: str | None = None
    reason: str | None = None


class Award(BaseModel):
    customer_id: int
    points: int


class EventResult(BaseModel):
    """What an event did (returned again, unchanged, for a replay)."""

    event_id: int | None
    replayed: bool = False
    dry_run: bool = False
    type: str
    source: str
    idempotency_key: str
    customer_id: int
    occurred_at: datetime
    points: int
    awards: list[Award] = []
    clawed_back: int = 0
    rules: list[RuleOutcome] = []
    purchase_id: int | None = None
    ledger_entry_ids: list[int] = []


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemResult(BaseModel):
    index: int
    ok: bool
    status: int
    result: EventResult | None = None
    error: dict[str, Any] | None = None


class BatchResult(BaseModel):
    """`committed` is false when any item failed: the batch is all-or-nothing."""

    committed: bool
    created: int
    replayed: int
    failed: int
    items: list[BatchItemResult]


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    idempotency_key: str
    type: str
    customer_id: int
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any]
    points: int
    outcome: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventRead]
    total: int
    limit: int
    offset: int


# ----------------------------------------------------------------------------- rules


class RuleKind(StrEnum):
    points_per_amount = "points_per_amount"
    multiplier = "multiplier"
    fixed_points = "fixed_points"
    referral_bonus = "referral_bonus"
    birthday_bonus = "birthday_bonus"


class Stacking(StrEnum):
    stack = "stack"
    exclusive = "exclusive"


class Rounding(StrEnum):
    floor = "floor"
    half_up = "half_up"
    ceil = "ceil"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RuleConditions(BaseModel):
    """All given conditions must hold (AND); a list matches when the value is one of it.

    `categories`/`skus` select purchase lines (a per-amount rule counts only those lines' net
    amount; a multiplier multiplies only them). `date_from`/`date_to` and `weekdays` are in the
    business timezone; `tiers` are tier codes of the customer at the time of the event."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = None
    skus: list[str] | None = None
    stores: list[str] | None = None
    channels: list[str] | None = None
    tiers: list[str] | None = None
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    date_from: date | None = None
    date_to: date | None = None
    min_amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    currencies: list[str] | None = None


class PointsPerAmountParams(BaseModel):
    """`points` for every whole `per_amount` of net spend (after discounts); rounding applies
    to the quotient: floor(45.99 / 1) * 1 = 45 by default."""

    model_config = ConfigDict(extra="forbid")

    points: int = Field(default=1, ge=1)
    per_amount: Decimal = Field(default=Decimal("1"), gt=0, le=Decimal("1e12"))
    rounding: Rounding = Rounding.floor


class MultiplierParams(BaseModel):
    """A fixed `factor`, or `use_tier_multiplier` to take the factor from the customer's current
    tier (the rule then only fires for customers holding a tier)."""

    model_config = ConfigDict(extra="forbid")

    factor: Decimal = Field(default=Decimal("1"), gt=0, le=100)
    use_tier_multiplier: bool = False


class FixedPointsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=1)


class ReferralParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referrer_points: int = Field(default=0, ge=0)
    referred_points: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _some(self) -> ReferralParams:
        if self.referrer_points == 0 and self.referred_points == 0:
            raise ValueError("referrer_points or referred_points must be positive")
        return self


class BirthdayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=1)


PARAMS_BY_KIND: dict[RuleKind, type[BaseModel]] = {
    RuleKind.points_per_amount: PointsPerAmountParams,
    RuleKind.multiplier: MultiplierParams,
    RuleKind.fixed_points: FixedPointsParams,
    RuleKind.referral_bonus: ReferralParams,
    RuleKind.birthday_bonus: BirthdayParams,
}
DEFAULT_EVENT_TYPES: dict[RuleKind, list[str]] = {
    RuleKind.points_per_amount: ["purchase"],
    RuleKind.multiplier: ["purchase"],
    RuleKind.referral_bonus: ["referral"],
    RuleKind.birthday_bonus: ["birthday"],
}


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=0, description="Higher runs first")
    stacking: Stacking = Stacking.stack
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    cap_per_day: int | None = Field(default=None, ge=1)
    cap_per_month: int | None = Field(default=None, ge=1)
    budget_total: int | None = Field(default=None, ge=1)
    pending_days: int = Field(default=0, ge=0, le=3650)
    expiry_months: int | None = Field(default=None, ge=1, le=1200)


class RuleCreate(RuleBase):
    kind: RuleKind
    event_types: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> RuleCreate:
        self.params = PARAMS_BY_KIND[self.kind].model_validate(self.params).model_dump(mode="json")
        if self.event_types is None:
            if self.kind not in DEFAULT_EVENT_TYPES:
                raise ValueError("event_types is required for a fixed_points rule")
            self.event_types = list(DEFAULT_EVENT_TYPES[self.kind])
        if not self.event_types:
            raise ValueError("event_types must not be empty")
        for t in self.event_types:
            if not EVENT_TYPE_RE.match(t):
                raise ValueError(f"event_types: {t!r} is not a valid event type name")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        for value in (self.starts_at, self.ends_at):
            if value is not None and value.tzinfo is None:
                raise ValueError("starts_at/ends_at must include a timezone")
        return self


class RuleUpdate(BaseModel):
    """Partial update; `params` is validated against the rule's kind."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    priority: int | None = None
    stacking: Stacking | None = None
    active: bool | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    conditions: RuleConditions | None = None
    params: dict[str, Any] | None = None
    event_types: list[str] | None = None
    cap_per_day: int | None = Field(default=None, ge=1)
    cap_per_month: int | None = Field(default=None, ge=1)
    budget_total: int | None = Field(default=None, ge=1)
    pending_days: int | None = Field(default=None, ge=0, le=3650)
    expiry_months: int | None = Field(default=None, ge=1, le=1200)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: RuleKind
    event_types: list[str]
    priority: int
    stacking: Stacking
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    conditions: dict[str, Any]
    params: dict[str, Any]
    cap_per_day: int | None
    cap_per_month: int | None
    budget_total: int | None
    budget_used: int
    pending_days: int
    expiry_months: int | None
    created_at: datetime
    updated_at: datetime

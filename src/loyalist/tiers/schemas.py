"""Public shapes of the tiers domain (used by API, events, rewards, customers' 360 view)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TierMetric = Literal["points", "spend"]
ChangeReason = Literal["upgrade", "downgrade", "grace_started", "grace_cleared", "merge"]


class TierCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=100)
    rank: int = Field(ge=0, le=1000, description="Higher rank = better tier; unique")
    metric: TierMetric = Field(description="points earned, or net spend, in the rolling window")
    window_days: int = Field(ge=1, le=3660, description="Rolling window length in days")
    threshold: Decimal = Field(ge=0, le=Decimal("1e12"), description="Metric value needed to qualify")
    multiplier: Decimal = Field(default=Decimal("1"), gt=0, le=100, description="Earning multiplier")
    benefits: list[str] = Field(default_factory=list, description="Human-readable benefit texts")
    grace_days: int = Field(default=30, ge=0, le=3660,
                            description="Days kept below threshold before a downgrade")
    active: bool = True


class TierUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    rank: int | None = Field(default=None, ge=0, le=1000)
    metric: TierMetric | None = None
    window_days: int | None = Field(default=None, ge=1, le=3660)
    threshold: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    multiplier: Decimal | None = Field(default=None, gt=0, le=100)
    benefits: list[str] | None = None
    grace_days: int | None = Field(default=None, ge=0, le=3660)
    active: bool | None = None


class TierRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    rank: int
    metric: TierMetric
    window_days: int
    threshold: Decimal
    multiplier: Decimal
    benefits: list[str]
    grace_days: int
    active: bool
    created_at: datetime
    updated_at: datetime


class TierStatusRead(BaseModel):
    """A customer's current tier. `multiplier` is what events apply to earned points."""

    customer_id: int
    tier_id: int
    code: str
    name: str
    rank: int
    multiplier: Decimal
    benefits: list[str]
    since: datetime
    grace_until: datetime | None
    metric_value: Decimal | None
    evaluated_at: datetime


class TierChange(BaseModel):
    """One history row: from/to tier (None = no tier), why and when."""

    id: int
    customer_id: int
    from_code: str | None
    to_code: str | None
    from_rank: int | None
    to_rank: int | None
    reason: ChangeReason
    metric_value: Decimal | None
    grace_until: datetime | None
    at: datetime
    actor: str


class TierProgress(BaseModel):
    """Progress toward the next tier, measured in that tier's own metric and window."""

    current_code: str | None
    next_code: str | None
    metric: TierMetric | None
    window_days: int | None
    value: Decimal
    next_threshold: Decimal | None
    remaining: Decimal
    percent: Decimal = Field(description="0..100, one decimal place")


class CustomerTierView(BaseModel):
    customer_id: int
    status: TierStatusRead | None
    progress: TierProgress
    history: list[TierChange]


class ReevaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime | None = None


class ReevaluationResult(BaseModel):
    as_of: datetime
    evaluated: int
    upgraded: int
    downgraded: int
    grace_started: int
    grace_cleared: int

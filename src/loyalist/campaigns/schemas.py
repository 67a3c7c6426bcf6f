"""Public shapes of the campaigns domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalist.types import MAX_ROW_ID, RowId

MAX_ID = MAX_ROW_ID
Id = RowId

STATUSES = ("draft", "scheduled", "running", "finished", "cancelled")
GROUPS = ("treatment", "control")


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    segment_id: Id | None = Field(default=None, description="audience segment")
    customer_ids: list[Id] | None = Field(default=None, max_length=100_000,
                                           description="a fixed audience instead of a segment")
    offer_id: Id | None = None
    template: str | None = Field(default=None, max_length=100, description="message template key")
    channel: Literal["email", "sms"] = "email"
    starts_at: datetime | None = Field(default=None, description="launch time (null: launch by hand)")
    ends_at: datetime | None = None
    budget: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"),
        description="max cost; issuing stops when reached")
    message_cost: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e12"),
        description="cost of one message sent")
    control_percent: int = Field(default=10, ge=0, le=90)
    seed: str | None = Field(default=None, max_length=64, description="holdout seed (default: random)")
    attribution_days: int = Field(default=30, ge=1, le=365)
    retention_days: int = Field(default=90, ge=1, le=730,
                                description="active = purchased within this many days before window end")
    margin: Decimal = Field(default=Decimal("0.3"), ge=0, le=1, description="gross margin on revenue")


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    budget: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"))
    control_percent: int | None = Field(default=None, ge=0, le=90)
    attribution_days: int | None = Field(default=None, ge=1, le=365)
    margin: Decimal | None = Field(default=None, ge=0, le=1)


class CampaignRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    status: str
    segment_id: int | None
    customer_ids: list[int] | None
    offer_id: int | None
    template: str | None
    channel: str
    starts_at: datetime | None
    ends_at: datetime | None
    budget: Decimal | None
    committed: Decimal
    message_cost: Decimal
    control_percent: int
    seed: str
    stratified_by: str | None
    attribution_days: int
    retention_days: int
    margin: Decimal
    launched_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    group: str
    stratum: str
    outcome: str
    issue_id: int | None
    message_id: int | None


class StratumCount(BaseModel):
    stratum: str
    treatment: int
    control: int


class LaunchResult(BaseModel):
    campaign: CampaignRead
    audience: int
    treatment: int
    control: int
    sent: int
    budget_stopped: int
    strata: list[StratumCount]
    already_launched: bool


class Estimate(BaseModel):
    """A point estimate with its 95 % confidence interval."""

    estimate: float
    low: float
    high: float


class GroupOutcome(BaseModel):
    customers: int
    converted: int
    conversion_rate: float
    revenue: Decimal
    revenue_per_customer: Decimal
    retained: int
    retention_rate: float


class CampaignResults(BaseModel):
    campaign_id: int
    window_start: datetime
    window_end: datetime
    complete: bool = Field(description="the attribution window has closed")
    treatment: GroupOutcome
    control: GroupOutcome
    budget_stopped: int = Field(description="treatment members not sent because the budget ran out "
                                            "(excluded from the treatment outcome)")
    incremental_conversion: Estimate | None
    incremental_revenue_per_customer: Estimate | None
    incremental_revenue: Estimate | None
    incremental_retention: Estimate | None
    offer_cost: Decimal
    messages_sent: int
    message_cost: Decimal
    cost: Decimal
    margin: Decimal
    roi: float | None
    notes: list[str]


__all__ = ["STATUSES", "GROUPS", "CampaignCreate", "CampaignUpdate", "CampaignRead", "MemberRead", "StratumCount",
           "LaunchResult", "Estimate", "GroupOutcome", "CampaignResults"]

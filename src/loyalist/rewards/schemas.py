"""Public shapes of the rewards domain: catalogue, redemptions, vouchers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RewardKind = Literal["discount_percent", "discount_amount", "free_product", "service", "gift",
                     "event_invitation"]
VoucherStatus = Literal["issued", "consumed", "void", "expired"]
RedemptionStatus = Literal["active", "cancelled"]


class _RewardFields(BaseModel):
    """Field-level rules here; cross-field rules are checked by the service (naming the field)."""

    model_config = ConfigDict(extra="forbid")


class RewardCreate(_RewardFields):
    kind: RewardKind
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    cost_points: int = Field(gt=0, le=100_000_000)
    value: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"),
        description="Discount percent or amount, if any")
    stock: int | None = Field(default=None, ge=0, description="None = unlimited")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    voucher_validity_days: int = Field(default=30, ge=1, le=3660)
    limit_per_customer: int | None = Field(default=None, ge=1, description="Lifetime redemptions per customer")
    limit_per_period: int | None = Field(default=None, ge=1)
    period_days: int | None = Field(default=None, ge=1, le=3660)
    min_tier_rank: int | None = Field(default=None, ge=0, description="Minimum tier rank to redeem")
    tier_codes: list[str] | None = Field(default=None, description="Only these tiers may redeem")
    active: bool = True


class RewardUpdate(_RewardFields):
    kind: RewardKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    cost_points: int | None = Field(default=None, gt=0, le=100_000_000)
    value: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    stock: int | None = Field(default=None, ge=0)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    voucher_validity_days: int | None = Field(default=None, ge=1, le=3660)
    limit_per_customer: int | None = Field(default=None, ge=1)
    limit_per_period: int | None = Field(default=None, ge=1)
    period_days: int | None = Field(default=None, ge=1, le=3660)
    min_tier_rank: int | None = Field(default=None, ge=0)
    tier_codes: list[str] | None = None
    active: bool | None = None


class RewardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: RewardKind
    name: str
    description: str
    cost_points: int
    value: Decimal | None
    stock: int | None
    redeemed_count: int
    valid_from: datetime | None
    valid_until: datetime | None
    voucher_validity_days: int
    limit_per_customer: int | None
    limit_per_period: int | None
    period_days: int | None
    min_tier_rank: int | None
    tier_codes: list[str] | None
    active: bool
    created_at: datetime
    updated_at: datetime


class VoucherRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    redemption_id: int
    customer_id: int
    reward_id: int
    status: VoucherStatus
    issued_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    consumed_by: str | None
    store: str | None
    order_ref: str | None
    closed_at: datetime | None


class RedemptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    reward_id: int
    points: int
    idempotency_key: str
    status: RedemptionStatus
    ledger_entry_id: int
    reversal_entry_id: int | None
    created_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None
    voucher: VoucherRead


class VoucherCheck(BaseModel):
    """What the till sees before consuming: is it usable, for what, for whom, until when."""

    code: str
    status: VoucherStatus
    usable: bool
    reason: str | None = Field(description="Why not usable (consumed, void, expired), else null")
    expires_at: datetime
    customer_id: int
    customer_name: str | None
    reward: RewardRead
    voucher: VoucherRead


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_id: int
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="Or send the Idempotency-Key header")


class ConsumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(default=None, max_length=100)
    order_ref: str | None = Field(default=None, max_length=100)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled by staff", min_length=1, max_length=500)


class ExpiryResult(BaseModel):
    as_of: datetime
    expired: int
    refunded: int

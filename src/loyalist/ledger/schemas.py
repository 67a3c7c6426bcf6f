"""Public shapes of the points ledger (what other domains, the API and the CLI see)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EntryKind = Literal[
    "earn", "bonus", "compensation", "redeem", "expire", "adjust", "reversal", "clawback",
    "transfer", "release",
]
ClawbackPolicy = Literal["allow_negative", "cap_at_balance"]


class PostingRead(BaseModel):
    account: str
    amount: int


class LotMovementRead(BaseModel):
    """How one entry changed one lot: why a point exists, what used it, when it expires."""

    lot_id: int
    kind: str
    points: int
    lot_earned_entry_id: int
    available_at: datetime
    expires_at: datetime | None


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    kind: str
    points: int
    reason: str
    source: str
    idempotency_key: str
    reference_type: str | None
    reference_id: str | None
    reverses_entry_id: int | None
    reversed_by_entry_id: int | None = None
    counterparty_customer_id: int | None = None
    actor: str
    occurred_at: datetime
    created_at: datetime
    data: dict[str, Any] | None = None
    postings: list[PostingRead] = Field(default_factory=list)
    lots: list[LotMovementRead] = Field(default_factory=list)


class EntryPage(BaseModel):
    items: list[EntryRead]
    total: int
    limit: int
    offset: int


class ExpiryRead(BaseModel):
    date: date
    points: int


class BalanceRead(BaseModel):
    customer_id: int
    available: int
    pending: int
    lifetime_earned: int
    lifetime_redeemed: int
    expired: int
    next_expiries: list[ExpiryRead]


class LotRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    entry_id: int
    origin_lot_id: int | None
    points: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime


class Mismatch(BaseModel):
    check: str
    subject: str
    expected: int
    actual: int


class ReconciliationReport(BaseModel):
    ok: bool
    accounts_checked: int
    entries_checked: int
    lots_checked: int
    global_sum: int
    mismatches: list[Mismatch]


class LiabilityReport(BaseModel):
    as_of: datetime
    point_value: Decimal
    outstanding_points: int
    outstanding_value: Decimal
    pending_points: int
    pending_value: Decimal
    debt_points: int
    issued_points: int
    redeemed_points: int
    breakage_points: int
    breakage_rate: Decimal


class ExpiryRunResult(BaseModel):
    as_of: datetime
    lots_expired: int
    lots_released: int = 0


# --- API commands -------------------------------------------------------------------------


class RedemptionCreate(BaseModel):
    points: int = Field(gt=0)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="or the Idempotency-Key header")
    reason: str = Field(default="redemption", min_length=1, max_length=500)
    source: str = Field(default="pos", min_length=1, max_length=100)
    channel: str = Field(default="in_store", description="timeline channel: in_store, online, app, ...")
    reference_type: str | None = Field(default=None, max_length=50)
    reference_id: str | None = Field(default=None, max_length=100)
    payload: dict[str, Any] | None = None


class AdjustmentCreate(BaseModel):
    points: int
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="or the Idempotency-Key header")


class CompensationCreate(BaseModel):
    points: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="or the Idempotency-Key header")
    expires_at: datetime | None = None
    reference_type: str | None = Field(default=None, max_length=50)
    reference_id: str | None = Field(default=None, max_length=100)


class ReversalCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="or the Idempotency-Key header")
    policy: ClawbackPolicy = "allow_negative"


class ExpireRequest(BaseModel):
    as_of: datetime | None = None

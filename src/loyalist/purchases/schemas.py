"""Public shapes of the purchases domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class PurchaseLineIn(BaseModel):
    """One order line. `discount` is the discount on the whole line (not per unit)."""

    sku: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=100)
    quantity: int = Field(default=1, ge=1)
    unit_price: Decimal = Field(ge=0, le=Decimal("1e12"))
    discount: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e12"))


class ReturnLineIn(BaseModel):
    """Return `quantity` units of the purchase line with this `sku`."""

    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1)


class PurchaseLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str | None
    category: str | None
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal
    returned_quantity: int


class PurchaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    order_ref: str
    occurred_at: datetime
    currency: str
    gross_amount: Decimal
    discount_amount: Decimal
    net_amount: Decimal
    refunded_amount: Decimal
    store: str | None
    channel: str | None
    event_id: int | None
    lines: list[PurchaseLineRead] = []


class ReturnRead(BaseModel):
    """What one return did: `amount` returned now, and the purchase's state afterwards."""

    id: int
    purchase_id: int
    customer_id: int
    order_ref: str
    occurred_at: datetime
    amount: Decimal
    purchase_net_amount: Decimal
    refunded_amount: Decimal
    currency: str


class PurchasePage(BaseModel):
    items: list[PurchaseRead]
    total: int
    limit: int
    offset: int

"""Public shapes of customers: commands (Create/Update/...In) and reads (Read/Page/360/Export).

Commands are deliberately loose (plain strings): the service validates and normalises them so
that every caller, Python or HTTP, gets a ValidationFailed that names the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loyalist.interactions.schemas import InteractionPage, InteractionRead

STATUSES = ("active", "closed", "merged", "erased")
CONTACT_CHANNELS: frozenset[str] = frozenset({"email", "sms", "phone", "push", "post", "webhook", "messenger"})
CONSENT_SOURCES: frozenset[str] = frozenset({"portal", "api", "import", "staff", "system", "unsubscribe_link"})
CUSTOMER_VALUES: frozenset[str] = frozenset({
    "discounts", "personal_attention", "greetings", "early_access", "service_quality", "convenience",
    "exclusivity", "recognition", "gifts", "sustainability",
})
ADDRESS_LABELS: frozenset[str] = frozenset({"home", "billing", "shipping", "work", "other"})


class AddressIn(BaseModel):
    label: str = "home"
    line1: str = Field(max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(examples=["DK"])


class AddressRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    label: str
    line1: str | None
    line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    valid_from: datetime
    valid_to: datetime | None
    source: str


class ConsentIn(BaseModel):
    channel: str = Field(examples=["email"])
    granted: bool
    source: str = "api"
    note: str | None = Field(default=None, max_length=500)


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    channel: str
    granted: bool
    recorded_at: datetime
    source: str
    actor: str | None
    note: str | None


class CustomerCreate(BaseModel):
    external_id: str | None = Field(default=None, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    phone_region: str | None = Field(default=None, description="ISO country for numbers without +prefix")
    birthday: date | None = None
    locale: str | None = Field(default=None, examples=["da", "en-GB"])
    timezone: str | None = Field(default=None, examples=["Europe/Copenhagen"])
    preferred_channel: str | None = None
    tags: list[str] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list)
    values_note: str | None = Field(default=None, max_length=2000)
    address: AddressIn | None = None
    consents: list[ConsentIn] = Field(default_factory=list)


class CustomerUpdate(BaseModel):
    """PATCH: only the fields present are changed; an explicit null clears a field."""

    external_id: str | None = Field(default=None, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    phone_region: str | None = None
    birthday: date | None = None
    locale: str | None = None
    timezone: str | None = None
    preferred_channel: str | None = None
    status: str | None = Field(default=None, description="active or closed")


class CustomerRead(BaseModel):
    id: int
    external_id: str | None
    first_name: str | None
    last_name: str | None
    display_name: str | None
    name: str | None = Field(description="display name, else first + last")
    email: str | None
    phone: str | None
    birthday: date | None
    locale: str | None
    timezone: str | None
    preferred_channel: str | None
    status: str
    merged_into_id: int | None
    tags: list[str]
    values: list[str]
    values_note: str | None
    created_at: datetime
    updated_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    total: int
    limit: int
    offset: int


class TagIn(BaseModel):
    tag: str = Field(max_length=50)


class ValuesIn(BaseModel):
    values: list[str]
    note: str | None = Field(default=None, max_length=2000)


class MergeIn(BaseModel):
    duplicate_id: int


class MergeResult(BaseModel):
    survivor: CustomerRead
    duplicate_id: int
    moved: dict[str, int] = Field(description="rows moved per kind (timeline, addresses, ...)")


class DuplicateGroup(BaseModel):
    match: str = Field(description="email or phone")
    value: str
    customer_ids: list[int]


class Customer360(BaseModel):
    profile: CustomerRead
    addresses: list[AddressRead]
    consents: list[ConsentRead]
    recent: list[InteractionRead]
    timeline_total: int
    sections: dict[str, Any] = Field(description="contributed by other domains (balance, tier, vouchers)")


class CustomerExport(BaseModel):
    exported_at: datetime
    profile: CustomerRead
    addresses: list[AddressRead]
    consents: list[ConsentRead]
    tags: list[str]
    values: list[str]
    timeline: list[InteractionRead]
    sections: dict[str, Any]


__all__ = [
    "AddressIn", "AddressRead", "ConsentIn", "ConsentRead", "CustomerCreate", "CustomerUpdate", "CustomerRead",
    "CustomerPage", "TagIn", "ValuesIn", "MergeIn", "MergeResult", "DuplicateGroup", "Customer360",
    "CustomerExport", "InteractionPage", "STATUSES", "CONTACT_CHANNELS", "CONSENT_SOURCES", "CUSTOMER_VALUES",
]

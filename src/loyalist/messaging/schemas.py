"""Public shapes and vocabularies of messaging."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CHANNELS: frozenset[str] = frozenset({"email", "sms", "webhook"})
CATEGORIES: frozenset[str] = frozenset({"transactional", "service", "marketing"})
STATUSES: frozenset[str] = frozenset({"queued", "sending", "sent", "failed", "dead", "suppressed", "skipped"})
FINAL_STATUSES: frozenset[str] = frozenset({"sent", "failed", "dead", "suppressed", "skipped"})
LOCALES: tuple[str, ...] = ("en", "ru", "uk", "da")
DEFAULT_LOCALE = "en"
SUPPRESSION_REASONS: frozenset[str] = frozenset({"hard_bounce", "complaint", "unsubscribe", "manual"})
# reasons that block every message to the address, not only marketing
BLOCKING_REASONS: frozenset[str] = frozenset({"hard_bounce", "complaint", "manual"})


class TemplateCreate(BaseModel):
    key: str = Field(min_length=1, max_length=100, examples=["welcome"])
    locale: str = Field(default=DEFAULT_LOCALE, examples=["en"])
    description: str | None = Field(default=None, max_length=500)
    subject: str | None = Field(default=None, max_length=500, examples=["Welcome, {{ first_name }}!"])
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)


class TemplateUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=500)
    subject: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    locale: str
    description: str | None
    subject: str | None
    text: str
    html: str | None
    created_at: datetime
    updated_at: datetime


class PreviewRequest(BaseModel):
    """Render a stored template (key + locale) or an unsaved draft (subject/text/html)."""

    key: str | None = None
    locale: str | None = None
    customer_id: int | None = None
    subject: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)
    context: dict[str, Any] = Field(default_factory=dict)


class Rendered(BaseModel):
    locale: str
    subject: str | None
    text: str
    html: str | None


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    customer_id: int | None
    to: str | None
    subject: str | None
    text: str | None
    html: str | None
    payload: dict[str, Any] | None
    event: str | None
    endpoint_id: int | None
    template: str | None
    locale: str | None
    category: str
    dedupe_key: str
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    provider_message_id: str | None
    sent_at: datetime | None
    source_type: str | None
    source_id: str | None
    created_at: datetime
    updated_at: datetime


class MessagePage(BaseModel):
    items: list[MessageRead]
    total: int
    limit: int
    offset: int


class SendRequest(BaseModel):
    """A message enqueued by staff or an integration through the API."""

    channel: str = Field(examples=["email"])
    customer_id: int | None = None
    to: str | None = Field(default=None, max_length=2000)
    dedupe_key: str = Field(min_length=1, max_length=150)
    template: str | None = None
    subject: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)
    context: dict[str, Any] = Field(default_factory=dict)
    category: str = "marketing"
    not_before: datetime | None = None


class WebhookEndpointCreate(BaseModel):
    url: str = Field(max_length=2000, examples=["https://example.com/hooks/loyalist"])
    events: list[str] = Field(default_factory=lambda: ["*"], examples=[["purchase.created"]])
    description: str | None = Field(default=None, max_length=500)
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="Leave empty to have one generated")


class WebhookEndpointUpdate(BaseModel):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = None
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    """Returned once, at creation: the only time the signing secret is shown."""

    secret: str


class SuppressionCreate(BaseModel):
    channel: str = Field(examples=["email"])
    address: str = Field(min_length=1, max_length=320)
    reason: str = "manual"
    note: str | None = Field(default=None, max_length=500)


class SuppressionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    address_hint: str
    reason: str
    customer_id: int | None
    message_id: int | None
    note: str | None
    created_at: datetime


class UnsubscribeResult(BaseModel):
    channel: str
    customer_id: int | None
    unsubscribed: bool


class Outgoing(BaseModel):
    """Everything a transport needs to send one claimed message; no database access needed."""

    message_id: int
    channel: str
    to: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str
    message_id_header: str | None = None
    secret: str | None = None
    event: str | None = None


class SendResult(BaseModel):
    provider_message_id: str | None = None


class DeliveryFailure(BaseModel):
    """Why a send failed: `permanent` failures are not retried; `bounce` suppresses the address."""

    error: str
    permanent: bool = False
    bounce: bool = False


class DeliveryReport(BaseModel):
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    suppressed: int = 0
    skipped: int = 0
    deferred: int = 0
    released: int = 0


class MessagingPolicy(BaseSettings):
    """Delivery policy, from `LOYALIST_MESSAGING_*` variables (tests build their own).

    Quiet hours and caps apply to marketing; quiet hours also to service messages; transactional
    messages (receipts, sign-in codes) are exempt from both.
    """

    model_config = SettingsConfigDict(env_prefix="LOYALIST_MESSAGING_", env_file=".env", extra="ignore")

    max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts before a message is dead")
    backoff_base_seconds: int = Field(default=60, ge=1)
    backoff_max_seconds: int = Field(default=6 * 3600, ge=1)
    lease_seconds: int = Field(default=300, ge=5, description="How long a claimed message is reserved")
    quiet_hours_start: time | None = Field(default=time(21, 0), description="Local time; None disables")
    quiet_hours_end: time | None = Field(default=time(8, 0))
    quiet_hours_channels: list[str] = Field(default_factory=lambda: ["email", "sms"])
    cap_per_day: dict[str, int] = Field(default_factory=lambda: {"email": 2, "sms": 1})
    cap_per_week: dict[str, int] = Field(default_factory=lambda: {"email": 5, "sms": 2})
    unsubscribe_link_days: int = Field(default=365, ge=1)
    body_retention_days: int = Field(default=365, ge=1, description="Texts of finished messages kept this long")


__all__ = [
    "CHANNELS", "CATEGORIES", "STATUSES", "FINAL_STATUSES", "LOCALES", "DEFAULT_LOCALE", "SUPPRESSION_REASONS",
    "BLOCKING_REASONS", "TemplateCreate", "TemplateUpdate", "TemplateRead", "PreviewRequest", "Rendered",
    "MessageRead", "MessagePage", "SendRequest", "WebhookEndpointCreate", "WebhookEndpointUpdate",
    "WebhookEndpointRead", "WebhookEndpointCreated", "SuppressionCreate", "SuppressionRead",
    "UnsubscribeResult", "Outgoing", "SendResult", "DeliveryFailure", "DeliveryReport", "MessagingPolicy",
]

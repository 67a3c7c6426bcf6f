"""Messaging use cases: templates, the outbox (enqueue, claim, deliver, acknowledge), webhooks,
suppressions and unsubscribe.

Delivery guarantees (see docs/messaging.md):
- *No loss*: a message is a row written in the caller's transaction. The worker claims rows
  with a lease (`claimed_by`/`claimed_until`), commits, sends, then acknowledges in a second
  transaction. A worker that dies between send and acknowledge leaves the row `sending` with a
  lease that runs out; the next pass claims it again.
- *No duplicate*: the retry carries the same `Message-ID` (email) / `Idempotency-Key` (SMS,
  webhooks), both derived from the message's unique `dedupe_key`, so the receiver drops the
  second copy. Enqueueing the same `dedupe_key` twice returns the first message.
- *Policy at send time*: consent, suppression, quiet hours and frequency caps are checked when
  the message is about to leave, not when it was enqueued, so a withdrawal an hour later is
  honoured. Every decision is kept on the row (status + reason) and on the customer's timeline.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock, db, signing
from loyalist.audit import service as audit
from loyalist.config import Settings, get_settings
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerRead
from loyalist.errors import Conflict, InvalidState, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.messaging import templates as tpl
from loyalist.messaging.models import Message, MessageTemplate, Suppression, WebhookEndpoint
from loyalist.messaging.schemas import (
    BLOCKING_REASONS,
    CATEGORIES,
    DEFAULT_LOCALE,
    LOCALES,
    SUPPRESSION_REASONS,
    DeliveryFailure,
    MessagePage,
    MessageRead,
    MessagingPolicy,
    Outgoing,
    PreviewRequest,
    Rendered,
    SendResult,
    SuppressionCreate,
    SuppressionRead,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    UnsubscribeResult,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from loyalist.messaging.transports import DeliveryError, TransportSet
from loyalist.types import SYSTEM, Actor

__all__ = [
    "enqueue", "publish_webhook", "get_message", "list_messages", "resend", "outbox_stats",
    "create_template", "update_template", "delete_template", "get_template", "list_templates", "preview",
    "create_endpoint", "update_endpoint", "delete_endpoint", "list_endpoints", "get_endpoint",
    "add_suppression", "remove_suppression", "list_suppressions", "is_suppressed",
    "unsubscribe_token", "unsubscribe_url", "unsubscribe",
    "claim_due", "begin_delivery", "release", "transmit", "record_sent", "record_failure", "open_transports",
    "backoff_delay", "default_policy", "message_id_header", "idempotency_key", "MessagingPolicy", "prune_bodies",
    "quiet_until",
]

ENQUEUE_CHANNELS = frozenset({"email", "sms"})
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,99}$")
_EVENT_RE = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_*]+)*)$")
MAX_OFFSET = 10**9
UNSUBSCRIBE_PURPOSE = "unsubscribe"
ERASED = "[erased]"


# --------------------------------------------------------------------------- small helpers

@lru_cache(maxsize=1)
def default_policy() -> MessagingPolicy:
    """The policy from the environment, read once (reading settings costs more than a send)."""
    return MessagingPolicy()


def _policy(policy: MessagingPolicy | None) -> MessagingPolicy:
    return policy if policy is not None else default_policy()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_id_header(dedupe_key: str, *, mail_from: str | None = None) -> str:
    """RFC 5322 Message-ID derived from the dedupe key: a retried email is recognisably the same."""
    address = parseaddr(mail_from or get_settings().mail_from)[1]
    domain = address.rsplit("@", 1)[1] if "@" in address else "loyalist.local"
    return f"<{_digest(dedupe_key)[:40]}@{domain}>"


def idempotency_key(dedupe_key: str) -> str:
    """The `Idempotency-Key` header of SMS and webhook calls; stable across retries."""
    return f"loyalist-{_digest(dedupe_key)[:40]}"


def _normal_address(channel: str, address: str) -> str:
    return address.strip().lower() if channel == "email" else address.strip()


def _address_hash(channel: str, address: str) -> str:
    return _digest(f"{channel}:{_normal_address(channel, address)}")


def _hint(channel: str, address: str) -> str:
    """A masked form for the suppression list: enough for staff to recognise, not to contact."""
    address = _normal_address(channel, address)
    if channel == "email" and "@" in address:
        local, domain = address.rsplit("@", 1)
        return f"{local[:1]}***@{domain}"[:100]
    return (address[:4] + "***" + address[-2:])[:100] if len(address) > 6 else "***"


def _lang(locale: str | None) -> str | None:
    if not locale:
        return None
    lang = locale.split("-", 1)[0].split("_", 1)[0].lower()
    return lang if lang in LOCALES else None


def _check_locale(locale: str | None, field: str = "locale") -> str:
    value = (locale or DEFAULT_LOCALE).strip().lower()
    if value not in LOCALES:
        raise ValidationFailed(f"{field}: one of {list(LOCALES)}", field=field)
    return value


def _check_key(key: str | None, field: str = "key") -> str:
    value = (key or "").strip().lower()
    if not _KEY_RE.match(value):
        raise ValidationFailed(f"{field}: 1-100 of a-z, 0-9, _ . - (starting with a letter or digit)", field=field)
    return value


def _read(row: Message) -> MessageRead:
    return MessageRead(
        id=row.id, channel=row.channel, customer_id=row.customer_id, to=row.to_address, subject=row.subject,
        text=row.text_body, html=row.html_body, payload=row.payload, event=row.event, endpoint_id=row.endpoint_id,
        template=row.template_key, locale=row.locale, category=row.category, dedupe_key=row.dedupe_key,
        status=row.status, reason=row.reason, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        last_error=row.last_error, provider_message_id=row.provider_message_id, sent_at=row.sent_at,
        source_type=row.source_type, source_id=row.source_id, created_at=row.created_at, updated_at=row.updated_at,
    )


def _template_read(row: MessageTemplate) -> TemplateRead:
    return TemplateRead(id=row.id, key=row.key, locale=row.locale, description=row.description,
                        subject=row.subject, text=row.text_body, html=row.html_body,
                        created_at=row.created_at, updated_at=row.updated_at)


def _audited(actor: Actor) -> bool:
    """Staff and integrations are audited; the system's own sends are on the outbox itself."""
    return actor.kind != "system"


# --------------------------------------------------------------------------- templates

def _check_template_fields(subject: str | None, text: str | None, html: str | None) -> None:
    tpl.check_syntax(subject, field="subject")
    tpl.check_syntax(text, field="text")
    tpl.check_syntax(html, field="html")


def create_template(session: Session, *, data: TemplateCreate, actor: Actor) -> TemplateRead:
    key = _check_key(data.key)
    locale = _check_locale(data.locale)
    if not data.text.strip():
        raise ValidationFailed("text: must not be empty", field="text")
    _check_template_fields(data.subject, data.text, data.html)
    exists = session.scalar(select(MessageTemplate.id).where(MessageTemplate.key == key,
                                                             MessageTemplate.locale == locale))
    if exists is not None:
        raise Conflict(f"template {key!r} already exists in locale {locale!r}", field="key")
    now = clock.now()
    row = MessageTemplate(key=key, locale=locale, description=data.description, subject=data.subject,
                          text_body=data.text, html_body=data.html, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="message_template.create", target_type="message_template",
                 target_id=row.id, after={"key": key, "locale": locale})
    return _template_read(row)


def _template_row(session: Session, template_id: int) -> MessageTemplate:
    row = session.get(MessageTemplate, template_id) if 0 < template_id < 2**63 else None
    if row is None:
        raise NotFound(f"template {template_id} not found", field="template_id")
    return row


def get_template(session: Session, template_id: int) -> TemplateRead:
    return _template_read(_template_row(session, template_id))


def list_templates(session: Session, *, key: str | None = None) -> list[TemplateRead]:
    query = select(MessageTemplate).order_by(MessageTemplate.key, MessageTemplate.locale)
    if key is not None:
        query = query.where(MessageTemplate.key == key.strip().lower())
    return [_template_read(r) for r in session.scalars(query)]


def update_template(session: Session, *, template_id: int, data: TemplateUpdate, actor: Actor) -> TemplateRead:
    row = _template_row(session, template_id)
    changes = data.model_dump(exclude_unset=True)
    if "text" in changes and (changes["text"] is None or not changes["text"].strip()):
        raise ValidationFailed("text: must not be empty", field="text")
    _check_template_fields(changes.get("subject"), changes.get("text"), changes.get("html"))
    before = {"subject": row.subject, "text": row.text_body, "html": row.html_body, "description": row.description}
    for name, column in (("subject", "subject"), ("text", "text_body"), ("html", "html_body"),
                         ("description", "description")):
        if name in changes:
            setattr(row, column, changes[name])
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="message_template.update", target_type="message_template",
                 target_id=row.id, before=before,
                 after={"subject": row.subject, "text": row.text_body, "html": row.html_body,
                        "description": row.description})
    return _template_read(row)


def delete_template(session: Session, *, template_id: int, actor: Actor) -> TemplateRead:
    """Remove one locale's text. Messages already rendered from it keep their text."""
    row = _template_row(session, template_id)
    result = _template_read(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="message_template.delete", target_type="message_template",
                 target_id=template_id, before={"key": result.key, "locale": result.locale})
    return result


def _find_template(session: Session, key: str, locale: str | None) -> MessageTemplate:
    """The template in `locale`, else in English; NotFound names the `template` field."""
    key = _check_key(key, "template")
    wanted = [loc for loc in (locale, DEFAULT_LOCALE) if loc]
    rows = {r.locale: r for r in session.scalars(select(MessageTemplate).where(
        MessageTemplate.key == key, MessageTemplate.locale.in_(wanted)))}
    for loc in wanted:
        if loc in rows:
            return rows[loc]
    raise NotFound(f"template {key!r} not found (locale {locale or DEFAULT_LOCALE} or {DEFAULT_LOCALE})",
                   field="template")


def _customer_context(customer: CustomerRead | None) -> dict[str, Any]:
    if customer is None:
        return {"first_name": None, "last_name": None, "name": None, "customer_id": None}
    return {"first_name": customer.first_name, "last_name": customer.last_name,
            "name": customer.name or customer.first_name, "customer_id": customer.id}


def _render(session: Session, *, template: str | None, subject: str | None, text: str | None,
            html: str | None, locale: str | None, context: dict[str, Any],
            templates: dict[tuple[str, str | None], MessageTemplate] | None = None) -> tuple[Rendered, str | None]:
    """Render a stored template or inline texts; returns the result and the template key used.
    `templates` caches the rows found by (key, locale) across the messages of one batch."""
    key = None
    used_locale = locale or DEFAULT_LOCALE
    if template is not None:
        if templates is None:
            row = _find_template(session, template, locale)
        elif (template, locale) in templates:
            row = templates[(template, locale)]
        else:
            row = templates[(template, locale)] = _find_template(session, template, locale)
        key, used_locale = row.key, row.locale
        subject, text, html = row.subject, row.text_body, row.html_body
    if text is None or not str(text).strip():
        raise ValidationFailed("text: give a template or a text", field="text")
    rendered = Rendered(
        locale=used_locale,
        subject=tpl.render(subject, context, field="subject"),
        text=tpl.render(text, context, field="text") or "",
        html=tpl.render(html, context, field="html"),
    )
    if rendered.subject is not None:
        # a header must be one line: a template with a newline would otherwise break the mail
        rendered.subject = " ".join(rendered.subject.split())
    return rendered, key


def _base_context(customer: CustomerRead | None, context: dict[str, Any] | None,
                  unsubscribe: str | None) -> dict[str, Any]:
    settings = get_settings()
    base = {**_customer_context(customer), "business_name": settings.business_name,
            "unsubscribe_url": unsubscribe}
    for name in (context or {}):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValidationFailed(f"context: variable name {name!r} is not an identifier", field="context")
    return {**base, **(context or {})}


def preview(session: Session, *, data: PreviewRequest) -> Rendered:
    """Render without sending: a stored template for a real customer (or none), or a draft."""
    customer = customers.get_customer(session, data.customer_id) if data.customer_id is not None else None
    locale = _check_locale(data.locale) if data.locale else _lang(customer.locale if customer else None)
    if data.key is None and data.text is None:
        raise ValidationFailed("key: give a template key or a draft text", field="key")
    example_link = f"{get_settings().public_base_url.rstrip('/')}/v1/public/unsubscribe?token=preview"
    rendered, _ = _render(session, template=data.key, subject=data.subject, text=data.text, html=data.html,
                          locale=locale, context=_base_context(customer, data.context, example_link))
    return rendered


# --------------------------------------------------------------------------- enqueue

def _resolve_to(channel: str, to: str | None, customer: CustomerRead | None) -> str | None:
    if to is not None:
        if channel == "email":
            return customers.normalise_email(to)
        region = customer.locale if customer else None
        try:
            return customers.normalise_phone(to, region=None if region is None else _phone_region(region))
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message.replace("phone:", "to:", 1), field="to") from exc
    if customer is None:
        return None
    return customer.email if channel == "email" else customer.phone


def _phone_region(locale: str) -> str | None:
    parts = re.split(r"[-_]", locale)
    return parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None


def _check_enqueue(*, channel: str, category: str, template: str | None, subject: str | None, text: str | None,
                   source_type: str | None, source_id: str | None, not_before: datetime | None
                   ) -> datetime | None:
    """The checks of one message that need no database; returns `not_before` in UTC."""
    if channel not in ENQUEUE_CHANNELS:
        hint = " (webhooks go through publish_webhook)" if channel == "webhook" else ""
        raise ValidationFailed(f"channel: one of {sorted(ENQUEUE_CHANNELS)}{hint}", field="channel")
    if category not in CATEGORIES:
        raise ValidationFailed(f"category: one of {sorted(CATEGORIES)}", field="category")
    if template is None and not (text and text.strip()):
        raise ValidationFailed("text: give a template or a text", field="text")
    if channel == "email" and template is None and not (subject and subject.strip()):
        raise ValidationFailed("subject: an email needs a subject", field="subject")
    for name, value in (("source_type", source_type), ("source_id", source_id)):
        if value is not None and len(str(value)) > (50 if name == "source_type" else 100):
            raise ValidationFailed(f"{name}: too long", field=name)
    if not_before is not None:
        try:
            return clock.ensure_utc(not_before)
        except ValueError as exc:
            raise ValidationFailed("not_before: must include a timezone", field="not_before") from exc
    return None


def _dedupe(dedupe_key: str | None) -> str:
    key = (dedupe_key or "").strip()
    if not key or len(key) > 200:
        raise ValidationFailed("dedupe_key: 1-200 characters", field="dedupe_key")
    return key


def _build(session: Session, *, channel: str, customer_id: int | None, customer: CustomerRead | None, key: str,
           actor: Actor, template: str | None, subject: str | None, text: str | None, html: str | None,
           context: dict[str, Any] | None, to: str | None, category: str, not_before: datetime | None,
           source_type: str | None, source_id: str | None, locale: str | None, now: datetime,
           templates: dict[tuple[str, str | None], MessageTemplate] | None = None) -> Message:
    """The outbox row of one checked message, rendered (not yet added to the session)."""
    address = _resolve_to(channel, to, customer)
    wanted_locale = _check_locale(locale) if locale else _lang(customer.locale if customer else None)
    link = None
    if channel == "email" and address and category != "transactional":
        link = unsubscribe_url(channel=channel, customer_id=customer_id, address=address)
    rendered, template_key = _render(session, template=template, subject=subject, text=text, html=html,
                                     locale=wanted_locale, context=_base_context(customer, context, link),
                                     templates=templates)
    if channel == "sms":
        rendered.subject = None
        rendered.html = None
    status, reason = "queued", None
    if address is None:
        status, reason = "skipped", "no address"
    return Message(
        channel=channel, customer_id=customer_id, to_address=address, subject=rendered.subject,
        text_body=rendered.text, html_body=rendered.html, template_key=template_key, locale=rendered.locale,
        category=category, dedupe_key=key, status=status, reason=reason, attempts=0,
        next_attempt_at=max(not_before, now) if not_before else now, source_type=source_type,
        source_id=None if source_id is None else str(source_id), created_by=actor.label,
        created_at=now, updated_at=now,
    )


def _enqueue_audit(row: Message, template_key: str | None) -> dict[str, Any]:
    return {"channel": row.channel, "customer_id": row.customer_id, "category": row.category,
            "template": template_key, "status": row.status}


def enqueue(
    session: Session, *, channel: str, customer_id: int | None, dedupe_key: str, actor: Actor,
    template: str | None = None, subject: str | None = None, text: str | None = None, html: str | None = None,
    context: dict[str, Any] | None = None, to: str | None = None, category: str = "marketing",
    not_before: datetime | None = None, source_type: str | None = None, source_id: str | None = None,
    locale: str | None = None,
) -> MessageRead:
    """Write one email or SMS to the outbox (delivered by the worker after commit).

    Idempotent on `dedupe_key`: a second call returns the first message unchanged. Rendering
    happens now (so the message shows what will be sent); consent, quiet hours, caps and
    suppression are checked at send time. Without an address the message is kept as
    `skipped` / `no address`, so the caller's transaction is not broken by missing data.
    """
    key = _dedupe(dedupe_key)
    existing = session.scalar(select(Message).where(Message.dedupe_key == key))
    if existing is not None:
        return _read(existing)
    not_before = _check_enqueue(channel=channel, category=category, template=template, subject=subject, text=text,
                                source_type=source_type, source_id=source_id, not_before=not_before)
    customer = customers.get_customer(session, customer_id) if customer_id is not None else None
    row = _build(session, channel=channel, customer_id=customer_id, customer=customer, key=key, actor=actor,
                 template=template, subject=subject, text=text, html=html, context=context, to=to,
                 category=category, not_before=not_before, source_type=source_type, source_id=source_id,
                 locale=locale, now=clock.now())
    inserted = _insert_once(session, row)
    if inserted is not row:
        return _read(inserted)
    if row.status == "skipped" and customer_id is not None:
        _timeline(session, row, actor=actor)
    if _audited(actor):
        audit.record(session, actor=actor, action="message.enqueue", target_type="message", target_id=row.id,
                     after=_enqueue_audit(row, row.template_key))
    return _read(row)


def enqueue_many(session: Session, *, items: list[dict[str, Any]], actor: Actor) -> list[MessageRead]:
    """Many `enqueue` calls at once (each dict takes its keyword arguments but `actor`): the same
    rows, timeline entries and audit rows, in a constant number of statements per 1,000 messages
    (templates are read once per key and locale, profiles in bulk). Everything is checked before
    anything is written. Returns one MessageRead per item, in order; a dedupe key already in the
    outbox (or repeated in `items`) returns the first message, as `enqueue` does. Should a
    concurrent writer take a key between the check and the insert, the batch falls back to
    `enqueue` per item, which resolves the race row by row."""
    keys = [_dedupe(item.get("dedupe_key")) for item in items]
    existing: dict[str, Message] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 1000):
        existing.update({m.dedupe_key: m for m in session.scalars(
            select(Message).where(Message.dedupe_key.in_(unique[start:start + 1000])))})
    checked: dict[int, datetime | None] = {}
    for i, item in enumerate(items):
        if keys[i] not in existing:
            checked[i] = _check_enqueue(
                channel=item["channel"], category=item.get("category", "marketing"), template=item.get("template"),
                subject=item.get("subject"), text=item.get("text"), source_type=item.get("source_type"),
                source_id=item.get("source_id"), not_before=item.get("not_before"))
    wanted = {items[i]["customer_id"] for i in checked if items[i].get("customer_id") is not None}
    profiles = customers.get_customers(session, wanted)
    missing = sorted(wanted - profiles.keys())
    if missing:
        raise NotFound(f"customer {missing[0]} not found", field="customer_id")
    now = clock.now()
    templates: dict[tuple[str, str | None], MessageTemplate] = {}
    made: dict[int, Message] = {}
    first: dict[str, int] = {}
    for i, not_before in checked.items():
        if keys[i] in first:
            continue
        first[keys[i]] = i
        item = items[i]
        cid = item.get("customer_id")
        made[i] = _build(
            session, channel=item["channel"], customer_id=cid, customer=profiles.get(cid) if cid else None,
            key=keys[i], actor=actor, template=item.get("template"), subject=item.get("subject"),
            text=item.get("text"), html=item.get("html"), context=item.get("context"), to=item.get("to"),
            category=item.get("category", "marketing"), not_before=not_before,
            source_type=item.get("source_type"), source_id=item.get("source_id"), locale=item.get("locale"),
            now=now, templates=templates)
    try:
        with session.begin_nested():
            made = dict(zip(made, db.insert_many(session, list(made.values()), key="dedupe_key"), strict=True))
    except IntegrityError:
        return [enqueue(session, actor=actor, **item) for item in items]
    interactions.record_many(session, [_timeline_values(row, actor=actor) for row in made.values()
                                       if row.status == "skipped" and row.customer_id is not None])
    if _audited(actor):
        audit.record_many(session, actor=actor, action="message.enqueue", target_type="message",
                          items=[(row.id, _enqueue_audit(row, row.template_key)) for row in made.values()])
    return [_read(made[i] if i in made else existing.get(keys[i]) or made[first[keys[i]]])
            for i in range(len(items))]


def _insert_once(session: Session, row: Message) -> Message:
    """Insert, or return the row another transaction committed with the same dedupe key first."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(Message).where(Message.dedupe_key == row.dedupe_key))
        if existing is None:
            raise
        return existing
    return row


def publish_webhook(session: Session, *, event: str, payload: dict[str, Any], dedupe_key: str,
                    actor: Actor) -> list[MessageRead]:
    """Fan an event out to every active endpoint subscribed to it (one outbox row each).

    Idempotent per endpoint on `dedupe_key`. The body is fixed now; the signature and its
    timestamp are computed at each send attempt.
    """
    event = (event or "").strip()
    if not _EVENT_RE.match(event) or event == "*" or len(event) > 100:
        raise ValidationFailed("event: dotted lower-case name like 'purchase.created'", field="event")
    key = (dedupe_key or "").strip()
    if not key or len(key) > 150:
        raise ValidationFailed("dedupe_key: 1-150 characters", field="dedupe_key")
    if not isinstance(payload, dict):
        raise ValidationFailed("payload: must be an object", field="payload")
    now = clock.now()
    body = json.loads(json.dumps({"id": key, "event": event, "created_at": now.isoformat(),
                                  "data": audit.jsonable(payload)}))
    out: list[MessageRead] = []
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
                                .order_by(WebhookEndpoint.id)).all()
    for endpoint in endpoints:
        if not _subscribed(endpoint.events, event):
            continue
        row_key = f"{key}#endpoint-{endpoint.id}"
        existing = session.scalar(select(Message).where(Message.dedupe_key == row_key))
        if existing is not None:
            out.append(_read(existing))
            continue
        row = Message(channel="webhook", customer_id=None, to_address=endpoint.url, payload=body, event=event,
                      endpoint_id=endpoint.id, category="service", dedupe_key=row_key, status="queued",
                      attempts=0, next_attempt_at=now, created_by=actor.label, created_at=now, updated_at=now)
        out.append(_read(_insert_once(session, row)))
    return out


def _subscribed(patterns: list[str], event: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event:
            return True
        if pattern.endswith(".*") and event.startswith(pattern[:-1]):
            return True
    return False


# --------------------------------------------------------------------------- reading the outbox

def _message_row(session: Session, message_id: int) -> Message:
    row = session.get(Message, message_id) if 0 < message_id < 2**63 else None
    if row is None:
        raise NotFound(f"message {message_id} not found", field="message_id")
    return row


def get_message(session: Session, message_id: int) -> MessageRead:
    return _read(_message_row(session, message_id))


def list_messages(session: Session, *, customer_id: int | None = None, status: str | None = None,
                  channel: str | None = None, category: str | None = None, limit: int = 50,
                  offset: int = 0) -> MessagePage:
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit: 1-500", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed("offset: 0 or more", field="offset")
    conditions = []
    if customer_id is not None:
        conditions.append(Message.customer_id == customer_id)
    if status is not None:
        conditions.append(Message.status == status)
    if channel is not None:
        conditions.append(Message.channel == channel)
    if category is not None:
        conditions.append(Message.category == category)
    total = session.scalar(select(func.count()).select_from(Message).where(*conditions)) or 0
    rows = session.scalars(select(Message).where(*conditions).order_by(Message.id.desc())
                           .limit(limit).offset(offset)).all()
    return MessagePage(items=[_read(r) for r in rows], total=total, limit=limit, offset=offset)


def outbox_stats(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Rows per status and the age in seconds of the oldest due message (for /metrics)."""
    now = now or clock.now()
    counts = dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
    oldest = session.scalar(select(func.min(Message.next_attempt_at)).where(
        Message.status.in_(("queued", "sending")), Message.next_attempt_at <= now))
    return {"by_status": {k: int(v) for k, v in counts.items()},
            "oldest_due_age_seconds": 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())}


def resend(session: Session, *, message_id: int, actor: Actor) -> MessageRead:
    """Queue a dead (or permanently failed) message again with a fresh attempt budget."""
    row = _message_row(session, message_id)
    if row.status not in ("dead", "failed"):
        raise InvalidState(f"message {message_id} is {row.status}; only dead or failed messages can be resent",
                           field="message_id")
    before = {"status": row.status, "attempts": row.attempts}
    now = clock.now()
    row.status, row.reason, row.attempts, row.next_attempt_at = "queued", "resent by staff", 0, now
    row.claimed_by = row.claimed_until = None
    row.updated_at = now
    session.flush()
    audit.record(session, actor=actor, action="message.resend", target_type="message", target_id=row.id,
                 before=before, after={"status": "queued", "attempts": 0})
    return _read(row)


# --------------------------------------------------------------------------- webhook endpoints

def _check_url(url: str | None) -> str:
    value = (url or "").strip()
    if not re.match(r"^https?://[^\s/]+", value) or len(value) > 2000:
        raise ValidationFailed("url: an http(s) URL", field="url")
    return value


def _check_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed("events: at least one event name or '*'", field="events")
    cleaned = []
    for e in events:
        value = (e or "").strip()
        if not _EVENT_RE.match(value) or len(value) > 100:
            raise ValidationFailed(f"events: {e!r} is not an event name, 'prefix.*' or '*'", field="events")
        cleaned.append(value)
    return sorted(set(cleaned))


def _endpoint_row(session: Session, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id < 2**63 else None
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found", field="endpoint_id")
    return row


def create_endpoint(session: Session, *, data: WebhookEndpointCreate, actor: Actor) -> WebhookEndpointCreated:
    """Register a receiver. The secret (given or generated) is returned this once only."""
    url = _check_url(data.url)
    events = _check_events(data.events)
    secret = data.secret or signing.new_secret()
    now = clock.now()
    row = WebhookEndpoint(url=url, secret=secret, events=events, description=data.description, active=True,
                          created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="webhook_endpoint.create", target_type="webhook_endpoint",
                 target_id=row.id, after={"url": url, "events": events})
    return WebhookEndpointCreated(**WebhookEndpointRead.model_validate(row).model_dump(), secret=secret)


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpointRead:
    return WebhookEndpointRead.model_validate(_endpoint_row(session, endpoint_id))


def list_endpoints(session: Session) -> list[WebhookEndpointRead]:
    return [WebhookEndpointRead.model_validate(r)
            for r in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def update_endpoint(session: Session, *, endpoint_id: int, data: WebhookEndpointUpdate,
                    actor: Actor) -> WebhookEndpointRead:
    row = _endpoint_row(session, endpoint_id)
    changes = data.model_dump(exclude_unset=True)
    url = _check_url(changes["url"]) if changes.get("url") is not None else None
    events = _check_events(changes["events"]) if changes.get("events") is not None else None
    before = {"url": row.url, "events": row.events, "active": row.active, "description": row.description}
    if url is not None:
        row.url = url
    if events is not None:
        row.events = events
    if changes.get("active") is not None:
        row.active = bool(changes["active"])
    if "description" in changes:
        row.description = changes["description"]
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="webhook_endpoint.update", target_type="webhook_endpoint",
                 target_id=row.id, before=before,
                 after={"url": row.url, "events": row.events, "active": row.active, "description": row.description})
    return WebhookEndpointRead.model_validate(row)


def delete_endpoint(session: Session, *, endpoint_id: int, actor: Actor) -> WebhookEndpointRead:
    """Deactivate (kept for the history of its deliveries); queued calls to it are skipped."""
    row = _endpoint_row(session, endpoint_id)
    before = row.active
    row.active = False
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="webhook_endpoint.delete", target_type="webhook_endpoint",
                 target_id=row.id, before={"active": before}, after={"active": False})
    return WebhookEndpointRead.model_validate(row)


# --------------------------------------------------------------------------- suppressions

def _suppression(session: Session, channel: str, address: str) -> Suppression | None:
    return session.scalar(select(Suppression).where(Suppression.channel == channel,
                                                    Suppression.address_hash == _address_hash(channel, address)))


def is_suppressed(session: Session, *, channel: str, address: str, category: str = "marketing") -> str | None:
    """The suppression reason that blocks this send, or None."""
    row = _suppression(session, channel, address)
    if row is None:
        return None
    if row.reason in BLOCKING_REASONS or category == "marketing":
        return row.reason
    return None


def _suppress(session: Session, *, channel: str, address: str, reason: str, customer_id: int | None,
              message_id: int | None, note: str | None) -> Suppression:
    existing = _suppression(session, channel, address)
    if existing is not None:
        if existing.reason == "unsubscribe" and reason in BLOCKING_REASONS:
            existing.reason = reason  # a bounce is stronger than an unsubscribe
            session.flush()
        return existing
    row = Suppression(channel=channel, address_hash=_address_hash(channel, address),
                      address_hint=_hint(channel, address), reason=reason, customer_id=customer_id,
                      message_id=message_id, note=note, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def add_suppression(session: Session, *, data: SuppressionCreate, actor: Actor) -> SuppressionRead:
    if data.channel not in ENQUEUE_CHANNELS:
        raise ValidationFailed(f"channel: one of {sorted(ENQUEUE_CHANNELS)}", field="channel")
    if data.reason not in SUPPRESSION_REASONS:
        raise ValidationFailed(f"reason: one of {sorted(SUPPRESSION_REASONS)}", field="reason")
    address = _resolve_to(data.channel, data.address, None)
    assert address is not None
    if _suppression(session, data.channel, address) is not None:
        raise Conflict("address: already on the suppression list", field="address")
    row = _suppress(session, channel=data.channel, address=address, reason=data.reason, customer_id=None,
                    message_id=None, note=data.note)
    audit.record(session, actor=actor, action="suppression.create", target_type="suppression", target_id=row.id,
                 after={"channel": row.channel, "reason": row.reason, "address": row.address_hint})
    return SuppressionRead.model_validate(row)


def list_suppressions(session: Session, *, channel: str | None = None) -> list[SuppressionRead]:
    query = select(Suppression).order_by(Suppression.id.desc())
    if channel is not None:
        query = query.where(Suppression.channel == channel)
    return [SuppressionRead.model_validate(r) for r in session.scalars(query)]


def remove_suppression(session: Session, *, suppression_id: int, actor: Actor) -> SuppressionRead:
    row = session.get(Suppression, suppression_id) if 0 < suppression_id < 2**63 else None
    if row is None:
        raise NotFound(f"suppression {suppression_id} not found", field="suppression_id")
    result = SuppressionRead.model_validate(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="suppression.delete", target_type="suppression",
                 target_id=suppression_id, before={"channel": result.channel, "reason": result.reason,
                                                   "address": result.address_hint})
    return result


# --------------------------------------------------------------------------- unsubscribe

def unsubscribe_token(*, channel: str, customer_id: int | None, address: str,
                      policy: MessagingPolicy | None = None) -> str:
    return signing.sign_token(
        UNSUBSCRIBE_PURPOSE,
        {"ch": channel, "c": customer_id, "a": _address_hash(channel, address), "h": _hint(channel, address)},
        expires_in=timedelta(days=_policy(policy).unsubscribe_link_days))


def unsubscribe_url(*, channel: str, customer_id: int | None, address: str,
                    policy: MessagingPolicy | None = None, base_url: str | None = None) -> str:
    """The one-click link (also offered to templates as `unsubscribe_url`)."""
    token = unsubscribe_token(channel=channel, customer_id=customer_id, address=address, policy=policy)
    return f"{(base_url or get_settings().public_base_url).rstrip('/')}/v1/public/unsubscribe?token={token}"


def unsubscribe(session: Session, *, token: str) -> UnsubscribeResult:
    """One-click unsubscribe from a signed link: withdraws the channel's consent (history keeps
    the decision, source `unsubscribe_link`), or suppresses the address if it has no customer.
    Repeating it changes nothing more. A tampered or expired token raises InvalidToken."""
    body = signing.read_token(UNSUBSCRIBE_PURPOSE, token)
    channel, customer_id = body.get("ch"), body.get("c")
    if channel not in ENQUEUE_CHANNELS or not isinstance(body.get("a"), str):
        raise ValidationFailed("token: not an unsubscribe link", field="token")
    changed = False
    if isinstance(customer_id, int):
        customer = customers.get_customer(session, customer_id)
        if customer.status in ("active", "closed") and customers.has_consent(session, customer_id, channel):
            actor = Actor(kind="customer", id=customer_id, name="unsubscribe link")
            customers.set_consent(session, customer_id=customer_id, actor=actor,
                                  data=ConsentIn(channel=channel, granted=False, source="unsubscribe_link",
                                                 note="one-click unsubscribe link"))
            changed = True
    else:
        exists = session.scalar(select(Suppression.id).where(Suppression.channel == channel,
                                                             Suppression.address_hash == body["a"]))
        if exists is None:
            session.add(Suppression(channel=channel, address_hash=body["a"],
                                    address_hint=str(body.get("h", "***"))[:100], reason="unsubscribe",
                                    note="one-click unsubscribe link", created_at=clock.now()))
            session.flush()
            changed = True
    return UnsubscribeResult(channel=channel, customer_id=customer_id if isinstance(customer_id, int) else None,
                             unsubscribed=changed)


# --------------------------------------------------------------------------- delivery (worker side)

def open_transports(settings: Settings | None = None, overrides: dict[str, Any] | None = None) -> TransportSet:
    """Transports for one worker pass (close them when done; SMTP connections are reused)."""
    return TransportSet(settings or get_settings(), overrides)


def backoff_delay(attempts: int, policy: MessagingPolicy | None = None, *,
                  rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with "equal jitter": half the delay fixed, half random, so retries of
    many messages that failed together (an SMTP outage) spread out instead of stampeding."""
    p = _policy(policy)
    full = min(p.backoff_max_seconds, p.backoff_base_seconds * 2 ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0, full / 2)
    return timedelta(seconds=full / 2 + jitter)


def claim_due(session: Session, *, worker_id: str, now: datetime | None = None, limit: int = 100,
              policy: MessagingPolicy | None = None) -> list[int]:
    """Reserve up to `limit` due messages for this worker (lease until now + lease_seconds).

    Due: queued and `next_attempt_at <= now`, or `sending` with an expired lease (its worker
    died). On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers claim disjoint batches
    at the same time; SQLite serialises writers (`BEGIN IMMEDIATE`). The caller commits.
    """
    now = now or clock.now()
    p = _policy(policy)
    query = (select(Message.id)
             .where(or_(and_(Message.status == "queued", Message.next_attempt_at <= now),
                        and_(Message.status == "sending", Message.claimed_until < now)))
             .order_by(Message.next_attempt_at, Message.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query).all())
    if ids:
        session.execute(update(Message).where(Message.id.in_(ids))
                        .values(status="sending", claimed_by=worker_id,
                                claimed_until=now + timedelta(seconds=p.lease_seconds),
                                attempts=Message.attempts + 1, updated_at=now)
                        .execution_options(synchronize_session=False))
        session.flush()
    return ids


def _zone(customer: CustomerRead | None) -> ZoneInfo:
    name = (customer.timezone if customer else None) or get_settings().timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(get_settings().timezone)


def quiet_until(now: datetime, zone: ZoneInfo, policy: MessagingPolicy) -> datetime | None:
    """If `now` is inside quiet hours in `zone`, the UTC instant they end; else None."""
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date()
    if start > end and t >= start:
        day = day + timedelta(days=1)  # quiet from the evening until the next morning
    end_local = datetime.combine(day, end).replace(tzinfo=zone)
    # through zoneinfo's fold handling a nonexistent local time (DST gap) lands just after it
    return end_local.astimezone(now.tzinfo)


def _cap_reason(session: Session, row: Message, zone: ZoneInfo, now: datetime, policy: MessagingPolicy,
                pending: int = 0) -> str | None:
    """Marketing sent to this customer on this channel today (local calendar day) and in the
    last seven local days, plus `pending` approved earlier in the same batch; one query."""
    day_cap, week_cap = policy.cap_per_day.get(row.channel), policy.cap_per_week.get(row.channel)
    if day_cap is None and week_cap is None:
        return None
    today = datetime.combine(now.astimezone(zone).date(), datetime.min.time()).replace(tzinfo=zone)
    week_start = today - timedelta(days=6)
    in_day = func.coalesce(func.sum(case((Message.sent_at >= today, 1), else_=0)), 0)
    week, day = session.execute(select(func.count(), in_day).where(
        Message.customer_id == row.customer_id, Message.channel == row.channel, Message.category == "marketing",
        Message.status == "sent", Message.sent_at >= week_start, Message.id != row.id)).one()
    if day_cap is not None and int(day) + pending >= day_cap:
        return f"frequency cap: {day_cap} marketing {row.channel} per day"
    if week_cap is not None and int(week) + pending >= week_cap:
        return f"frequency cap: {week_cap} marketing {row.channel} per week"
    return None


def _finish(session: Session, row: Message, status: str, reason: str | None, now: datetime,
            *, error: str | None = None) -> None:
    row.status, row.reason, row.updated_at = status, reason, now
    row.claimed_by = row.claimed_until = None
    if error is not None:
        row.last_error = error[:1000]
    session.flush()
    _timeline(session, row, actor=SYSTEM)


_STATUS_WORDS = {"sent": "sent", "failed": "failed", "dead": "not delivered (gave up)", "suppressed": "suppressed",
                 "skipped": "not sent"}


def _timeline(session: Session, row: Message, *, actor: Actor) -> None:
    """Delivery outcome on the customer's timeline (kind `message`), with the decision's facts."""
    if row.customer_id is None or row.status not in _STATUS_WORDS:
        return
    interactions.record(session, **_timeline_values(row, actor=actor))


def _timeline_values(row: Message, *, actor: Actor) -> dict[str, Any]:
    """The timeline row of a message's current status (`interactions.record` arguments)."""
    assert row.customer_id is not None
    label = {"email": "Email", "sms": "SMS"}.get(row.channel, row.channel)
    what = row.subject or row.template_key or (row.text_body or "")[:60]
    summary = f"{label} {_STATUS_WORDS[row.status]}: {what}"
    if row.reason and row.status != "sent":
        summary += f" ({row.reason})"
    return dict(
        customer_id=row.customer_id, kind="message",
        channel=row.channel if row.channel in ("email", "sms") else "system", direction="outbound",
        summary=summary[:4000], actor=actor, source_type="message", source_id=str(row.id),
        data={"message_id": row.id, "channel": row.channel, "category": row.category, "status": row.status,
              "reason": row.reason, "template": row.template_key, "attempts": row.attempts,
              "source_type": row.source_type, "source_id": row.source_id},
    )


def begin_delivery(session: Session, *, message_id: int, worker_id: str, now: datetime | None = None,
                   policy: MessagingPolicy | None = None, settings: Settings | None = None,
                   pending: dict[tuple[int, str], int] | None = None) -> Outgoing | None:
    """Apply the send-time policy to a message this worker claimed.

    Returns what to send, or None when the message must not be sent now: lease lost, customer
    erased, address suppressed, no consent, frequency cap (all final, with a reason), or quiet
    hours (re-queued for their end). The caller commits before sending. `pending` counts the
    marketing messages per (customer, channel) already approved in the same batch, so a batch
    holding two promotions for one customer respects the cap (counted even if a send fails).
    """
    now = now or clock.now()
    p = _policy(policy)
    settings = settings or get_settings()
    row = session.get(Message, message_id)
    if row is None or row.status != "sending" or row.claimed_by != worker_id:
        return None
    if row.attempts > p.max_attempts:
        _finish(session, row, "dead", f"gave up after {row.attempts - 1} attempts", now)
        return None
    customer = customers.get_customer(session, row.customer_id) if row.customer_id is not None else None
    if customer is not None and customer.status not in ("active", "closed"):
        _finish(session, row, "skipped", f"customer {customer.status}", now)
        return None
    if row.channel == "webhook":
        endpoint = session.get(WebhookEndpoint, row.endpoint_id) if row.endpoint_id else None
        if endpoint is None or not endpoint.active:
            _finish(session, row, "skipped", "webhook endpoint inactive", now)
            return None
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
        return Outgoing(message_id=row.id, channel="webhook", to=endpoint.url, body=body, secret=endpoint.secret,
                        event=row.event, idempotency_key=idempotency_key(row.dedupe_key))
    if not row.to_address:
        _finish(session, row, "skipped", "no address", now)
        return None
    blocked = is_suppressed(session, channel=row.channel, address=row.to_address, category=row.category)
    if blocked is not None:
        _finish(session, row, "suppressed", f"address suppressed ({blocked})", now)
        return None
    if row.category == "marketing" and row.customer_id is not None \
            and not customers.has_consent(session, row.customer_id, row.channel):
        _finish(session, row, "skipped", f"no {row.channel} consent", now)
        return None
    zone = _zone(customer)
    if row.category != "transactional" and row.channel in p.quiet_hours_channels:
        until = quiet_until(now, zone, p)
        if until is not None:
            # not an attempt: give the attempt back and wait for the morning
            row.status, row.reason, row.next_attempt_at = "queued", f"quiet hours until {until.isoformat()}", until
            row.attempts = max(0, row.attempts - 1)
            row.claimed_by = row.claimed_until = None
            row.updated_at = now
            session.flush()
            return None
    if row.category == "marketing" and row.customer_id is not None:
        slot = (row.customer_id, row.channel)
        capped = _cap_reason(session, row, zone, now, p, (pending or {}).get(slot, 0))
        if capped is not None:
            _finish(session, row, "skipped", capped, now)
            return None
        if pending is not None:
            pending[slot] = pending.get(slot, 0) + 1
    headers: dict[str, str] = {}
    if row.channel == "email" and row.category != "transactional":
        link = unsubscribe_url(channel="email", customer_id=row.customer_id, address=row.to_address, policy=p,
                               base_url=settings.public_base_url)
        sender = parseaddr(settings.mail_from)[1] or "no-reply@loyalist.local"
        domain = sender.rsplit("@", 1)[-1]
        token = link.rsplit("=", 1)[-1]
        headers["List-Unsubscribe"] = f"<mailto:unsubscribe@{domain}?subject=unsubscribe%20{token}>, <{link}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if row.channel == "email":
        headers["X-Loyalist-Message"] = str(row.id)
    return Outgoing(message_id=row.id, channel=row.channel, to=row.to_address, subject=row.subject,
                    text=row.text_body, html=row.html_body, headers=headers,
                    idempotency_key=idempotency_key(row.dedupe_key),
                    message_id_header=message_id_header(row.dedupe_key, mail_from=settings.mail_from))


def release(session: Session, *, message_ids: list[int], worker_id: str, now: datetime | None = None) -> int:
    """Give claimed, not yet sent messages back (the attempt is not counted): a worker that
    runs short of lease time or is asked to stop hands them on instead of sitting on them."""
    if not message_ids:
        return 0
    result = session.execute(
        update(Message).where(Message.id.in_(message_ids), Message.status == "sending",
                              Message.claimed_by == worker_id)
        .values(status="queued", claimed_by=None, claimed_until=None, attempts=Message.attempts - 1,
                updated_at=now or clock.now())
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def transmit(transports: TransportSet, outgoing: Outgoing) -> SendResult | DeliveryFailure:
    """Hand one message to its transport; never raises for a delivery problem."""
    try:
        return transports.get(outgoing.channel).send(outgoing)
    except DeliveryError as exc:
        return DeliveryFailure(error=exc.message, permanent=exc.permanent, bounce=exc.bounce)


def record_sent(session: Session, *, message_id: int, worker_id: str, result: SendResult,
                now: datetime | None = None) -> MessageRead | None:
    """Acknowledge a send. Also accepted when the lease ran out meanwhile: the message did go."""
    now = now or clock.now()
    row = session.get(Message, message_id)
    if row is None or row.status in ("sent",):
        return None if row is None else _read(row)
    row.sent_at = now
    row.provider_message_id = result.provider_message_id
    row.last_error = None
    _finish(session, row, "sent", None, now)
    return _read(row)


def record_failure(session: Session, *, message_id: int, worker_id: str, failure: DeliveryFailure,
                   now: datetime | None = None, policy: MessagingPolicy | None = None) -> MessageRead | None:
    """A failed attempt: hard bounce -> failed + address suppressed; other permanent -> failed;
    transient -> queued again after a backoff, or dead after `max_attempts`."""
    now = now or clock.now()
    p = _policy(policy)
    row = session.get(Message, message_id)
    if row is None or row.status != "sending":
        return None if row is None else _read(row)
    if failure.bounce and row.to_address:
        _suppress(session, channel=row.channel, address=row.to_address, reason="hard_bounce",
                  customer_id=row.customer_id, message_id=row.id, note=failure.error[:500])
        _finish(session, row, "failed", "hard bounce", now, error=failure.error)
    elif failure.permanent:
        _finish(session, row, "failed", "rejected", now, error=failure.error)
    elif row.attempts >= p.max_attempts:
        _finish(session, row, "dead", f"gave up after {row.attempts} attempts", now, error=failure.error)
    else:
        row.status, row.reason = "queued", "retry"
        row.last_error = failure.error[:1000]
        row.next_attempt_at = now + backoff_delay(row.attempts, p)
        row.claimed_by = row.claimed_until = None
        row.updated_at = now
        session.flush()
    return _read(row)


def prune_bodies(session: Session, *, as_of: datetime | None = None, policy: MessagingPolicy | None = None) -> int:
    """Data minimisation: drop the rendered texts of finished messages older than the retention
    period; status, dates, template and subject stay for history, caps and reporting."""
    cutoff = (as_of or clock.now()) - timedelta(days=_policy(policy).body_retention_days)
    result = session.execute(
        update(Message)
        .where(Message.status.in_(("sent", "failed", "dead", "suppressed", "skipped")),
               Message.updated_at < cutoff, Message.text_body.is_not(None))
        .values(text_body=None, html_body=None, payload=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- customer-wide hooks

def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    session.execute(update(Message).where(Message.customer_id == duplicate_id).values(customer_id=survivor_id)
                    .execution_options(synchronize_session=False))
    session.execute(update(Suppression).where(Suppression.customer_id == duplicate_id)
                    .values(customer_id=survivor_id).execution_options(synchronize_session=False))


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Message texts and addresses are personal data; the rows stay (counts, caps, history).
    Suppressions are kept: they hold only a hash and a masked hint."""
    now = clock.now()
    session.execute(update(Message).where(Message.customer_id == customer_id)
                    .values(to_address=None, subject=None, text_body=ERASED, html_body=None, payload=None,
                            last_error=None, updated_at=now)
                    .execution_options(synchronize_session=False))
    session.execute(update(Message).where(Message.customer_id == customer_id,
                                          Message.status.in_(("queued", "sending")))
                    .values(status="skipped", reason="customer erased", claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False))


def _export_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Message).where(Message.customer_id == customer_id).order_by(Message.id)).all()
    return [{"id": r.id, "channel": r.channel, "to": r.to_address, "subject": r.subject, "text": r.text_body,
             "category": r.category, "status": r.status, "reason": r.reason, "created_at": r.created_at,
             "sent_at": r.sent_at} for r in rows]


def _view_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Message).where(Message.customer_id == customer_id)
                           .order_by(Message.id.desc()).limit(10)).all()
    return [{"id": r.id, "channel": r.channel, "subject": r.subject, "status": r.status, "reason": r.reason,
             "sent_at": r.sent_at} for r in rows]


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("messages", _export_section)
    hooks.register_view_section("messages", _view_section)


_register_hooks()

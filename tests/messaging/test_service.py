"""Templates, enqueue, unsubscribe links, suppressions and endpoints (service level, both DBs)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from loyalist import clock, signing
from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.errors import Conflict, InvalidState, InvalidToken, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.messaging import service
from loyalist.messaging.models import Message, MessageTemplate, Suppression, WebhookEndpoint
from loyalist.messaging.schemas import (
    MessagingPolicy,
    PreviewRequest,
    SuppressionCreate,
    TemplateCreate,
    TemplateUpdate,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)

from .conftest import NOON, make_customer


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------- templates

def test_template_locale_fallback_to_english(session, actor) -> None:
    for locale, subject in (("en", "Hello {{ first_name }}"), ("da", "Hej {{ first_name }}")):
        service.create_template(session, actor=actor, data=TemplateCreate(key="hello", locale=locale,
                                                                         subject=subject, text="-"))
    da = make_customer(session, actor, email="da@example.com", first_name="Mette", locale="da-DK")
    uk = make_customer(session, actor, email="uk@example.com", first_name="Олена", locale="uk")
    m_da = service.enqueue(session, channel="email", customer_id=da, dedupe_key="h:da", actor=actor, template="hello")
    m_uk = service.enqueue(session, channel="email", customer_id=uk, dedupe_key="h:uk", actor=actor, template="hello")
    assert (m_da.subject, m_da.locale, m_da.template) == ("Hej Mette", "da", "hello")
    assert (m_uk.subject, m_uk.locale) == ("Hello Олена", "en")  # no Ukrainian text yet: English


def test_template_syntax_error_names_field_and_changes_nothing(session, actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.create_template(session, actor=actor, data=TemplateCreate(
            key="bad", subject="ok", text="line one\n{% if x %}never closed", html="<p></p>"))
    assert err.value.field == "text"
    assert "syntax error on line 2" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        service.create_template(session, actor=actor, data=TemplateCreate(key="bad", subject="{{ }", text="x"))
    assert err.value.field == "subject"
    assert _count(session, MessageTemplate) == 0


def test_template_crud_conflict_and_audit(session, actor) -> None:
    created = service.create_template(session, actor=actor, data=TemplateCreate(key="Promo", subject="s", text="t"))
    assert (created.key, created.locale) == ("promo", "en")
    with pytest.raises(Conflict) as err:
        service.create_template(session, actor=actor, data=TemplateCreate(key="promo", subject="x", text="y"))
    assert err.value.field == "key"
    with pytest.raises(ValidationFailed) as err:
        service.update_template(session, template_id=created.id, actor=actor, data=TemplateUpdate(html="{% for %}"))
    assert err.value.field == "html"
    assert service.get_template(session, created.id).html is None
    updated = service.update_template(session, template_id=created.id, actor=actor,
                                      data=TemplateUpdate(html="<b>{{ first_name }}</b>"))
    assert updated.html == "<b>{{ first_name }}</b>" and updated.text == "t"
    with pytest.raises(ValidationFailed) as err:
        service.create_template(session, actor=actor, data=TemplateCreate(key="x", locale="de", text="t"))
    assert err.value.field == "locale"
    service.delete_template(session, template_id=created.id, actor=actor)
    with pytest.raises(NotFound):
        service.get_template(session, created.id)
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "message_template")
                              .order_by(AuditEntry.id)).all()
    assert actions == ["message_template.create", "message_template.update", "message_template.delete"]


def test_preview_escapes_html_and_rejects_unknown_variables(session, actor) -> None:
    cid = make_customer(session, actor, first_name="<script>alert(1)</script>")
    out = service.preview(session, data=PreviewRequest(customer_id=cid, subject="Hi {{ first_name }}",
                                                       text="Hi {{ first_name }}", html="<p>{{ first_name }}</p>",
                                                       context={"points": 5}))
    assert out.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert out.text == "Hi <script>alert(1)</script>"
    with pytest.raises(ValidationFailed) as err:
        service.preview(session, data=PreviewRequest(text="{{ points_balance }}"))
    assert (err.value.field, err.value.message) == ("text", "text: 'points_balance' is undefined")


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 9 ** 9999999 }}",
])
def test_template_cannot_escape_the_sandbox(session, source) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.preview(session, data=PreviewRequest(text=source))
    assert err.value.field == "text"


# --------------------------------------------------------------------------- enqueue

def test_enqueue_is_idempotent_on_dedupe_key(session, actor) -> None:
    cid = make_customer(session, actor)
    first = service.enqueue(session, channel="email", customer_id=cid, dedupe_key="k1", actor=actor,
                            subject="A", text="a")
    again = service.enqueue(session, channel="email", customer_id=cid, dedupe_key="k1", actor=actor,
                            subject="B", text="b")
    assert again == first
    assert (first.to, first.status, first.category, first.attempts) == ("anna@example.com", "queued", "marketing", 0)
    assert _count(session, Message) == 1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"channel": "fax"}, "channel"),
    ({"channel": "webhook"}, "channel"),
    ({"category": "spam"}, "category"),
    ({"dedupe_key": " "}, "dedupe_key"),
    ({"subject": None}, "subject"),
    ({"text": None}, "text"),
    ({"to": "not an email"}, "email"),
    ({"template": "missing", "text": None}, "template"),
    ({"text": "{{ nope }}"}, "text"),
    ({"context": {"not valid": 1}}, "context"),
    ({"not_before": datetime(2026, 1, 1)}, "not_before"),  # noqa: DTZ001 - the naive value is the point
])
def test_enqueue_rejects_bad_input_naming_the_field(session, actor, kwargs, field) -> None:
    args = {"channel": "email", "customer_id": None, "to": "a@example.com", "dedupe_key": "x", "actor": actor,
            "subject": "s", "text": "t", **kwargs}
    with pytest.raises((ValidationFailed, NotFound)) as err:
        service.enqueue(session, **args)
    assert err.value.field == field
    assert _count(session, Message) == 0


def test_enqueue_without_address_is_kept_as_skipped_on_timeline(session, actor) -> None:
    cid = make_customer(session, actor, email=None)
    msg = service.enqueue(session, channel="sms", customer_id=cid, dedupe_key="n1", actor=actor, text="hi")
    assert (msg.status, msg.reason, msg.to) == ("skipped", "no address", None)
    rows = [r for r in interactions.list_timeline(session, cid).items if r.kind == "message"]
    assert [(r.data["status"], r.data["reason"]) for r in rows] == [("skipped", "no address")]


def test_enqueue_normalises_phone_and_honours_not_before(session, actor) -> None:
    with clock.frozen_at(NOON):
        msg = service.enqueue(session, channel="sms", customer_id=None, to="+45 20 12 34 56", dedupe_key="p1",
                              actor=actor, text="x", not_before=NOON + timedelta(hours=2))
    assert (msg.to, msg.next_attempt_at, msg.subject, msg.html) == ("+4520123456", NOON + timedelta(hours=2),
                                                                    None, None)


def test_enqueue_by_staff_is_audited_without_personal_data(session, actor) -> None:
    msg = service.enqueue(session, channel="email", customer_id=None, to="secret@example.com", dedupe_key="a1",
                          actor=actor, subject="s", text="t")
    row = session.scalar(select(AuditEntry).where(AuditEntry.target_type == "message"))
    assert (row.action, row.target_id) == ("message.enqueue", str(msg.id))
    assert "secret@example.com" not in str(row.after)


# --------------------------------------------------------------------------- unsubscribe

def test_unsubscribe_link_withdraws_consent_once(session, actor) -> None:
    cid = make_customer(session, actor)
    token = service.unsubscribe_token(channel="email", customer_id=cid, address="anna@example.com")
    result = service.unsubscribe(session, token=token)
    assert (result.channel, result.customer_id, result.unsubscribed) == ("email", cid, True)
    assert customers.has_consent(session, cid, "email") is False
    assert customers.has_consent(session, cid, "sms") is True
    [latest] = customers.list_consents(session, cid, history=True, channel="email")[:1]
    assert (latest.granted, latest.source, latest.note) == (False, "unsubscribe_link", "one-click unsubscribe link")
    assert service.unsubscribe(session, token=token).unsubscribed is False  # repeat: nothing more
    assert len(customers.list_consents(session, cid, history=True, channel="email")) == 2


def test_unsubscribe_rejects_tampered_expired_and_foreign_tokens(session, actor) -> None:
    cid = make_customer(session, actor)
    with clock.frozen_at(NOON):
        token = service.unsubscribe_token(channel="email", customer_id=cid, address="anna@example.com",
                                          policy=MessagingPolicy(unsubscribe_link_days=30))
    body, mac = token.split(".")
    forged = signing._b64(signing._unb64(body).replace(f'"c":{cid}'.encode(), f'"c":{cid + 1}'.encode()))
    survey = signing.sign_token("survey", {"ch": "email", "c": cid, "a": "x"}, expires_in=timedelta(days=1))
    for bad in (f"{forged}.{mac}", token[:-2] + "xx", survey, "garbage"):
        with pytest.raises(InvalidToken):
            service.unsubscribe(session, token=bad)
    with clock.frozen_at(NOON + timedelta(days=31)), pytest.raises(InvalidToken) as err:
        service.unsubscribe(session, token=token)
    assert "expired" in err.value.message
    assert customers.has_consent(session, cid, "email") is True


def test_unsubscribe_without_customer_suppresses_the_address_for_marketing(session, actor) -> None:
    token = service.unsubscribe_token(channel="email", customer_id=None, address="Lead@Example.com")
    assert service.unsubscribe(session, token=token).unsubscribed is True
    assert service.is_suppressed(session, channel="email", address="lead@example.com") == "unsubscribe"
    assert service.is_suppressed(session, channel="email", address="lead@example.com",
                                 category="transactional") is None
    [row] = service.list_suppressions(session)
    assert (row.reason, row.address_hint) == ("unsubscribe", "l***@example.com")


# --------------------------------------------------------------------------- suppressions and endpoints

def test_manual_suppression_blocks_everything_and_is_audited(session, actor) -> None:
    row = service.add_suppression(session, actor=actor, data=SuppressionCreate(channel="email",
                                                                              address="Block@Example.com"))
    assert service.is_suppressed(session, channel="email", address="block@example.com",
                                 category="transactional") == "manual"
    with pytest.raises(Conflict):
        service.add_suppression(session, actor=actor, data=SuppressionCreate(channel="email",
                                                                            address="block@example.com"))
    with pytest.raises(ValidationFailed) as err:
        service.add_suppression(session, actor=actor, data=SuppressionCreate(channel="email", address="x",
                                                                            reason="bored"))
    assert err.value.field == "reason"
    service.remove_suppression(session, suppression_id=row.id, actor=actor)
    assert _count(session, Suppression) == 0


def test_webhook_endpoint_secret_shown_once_and_filters_events(session, actor) -> None:
    created = service.create_endpoint(session, actor=actor, data=WebhookEndpointCreate(
        url="https://hooks.example.com/x", events=["points.*", "customer.created"]))
    assert len(created.secret) >= 32
    assert "secret" not in service.get_endpoint(session, created.id).model_dump()
    assert all("secret" not in e.model_dump() for e in service.list_endpoints(session))
    audit_rows = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "webhook_endpoint")).all()
    assert created.secret not in str([(a.before, a.after) for a in audit_rows])
    assert [m.event for m in service.publish_webhook(session, event="points.earned", payload={}, dedupe_key="e1",
                                                     actor=actor)] == ["points.earned"]
    assert service.publish_webhook(session, event="purchase.created", payload={}, dedupe_key="e2",
                                   actor=actor) == []
    service.update_endpoint(session, endpoint_id=created.id, actor=actor, data=WebhookEndpointUpdate(active=False))
    assert service.publish_webhook(session, event="points.earned", payload={}, dedupe_key="e3", actor=actor) == []
    for bad in ({"url": "ftp://x"}, {"events": ["Not Valid"]}, {"events": []}):
        with pytest.raises(ValidationFailed) as err:
            service.create_endpoint(session, actor=actor, data=WebhookEndpointCreate(
                **{"url": "https://ok.example.com", **bad}))
        assert err.value.field == next(iter(bad))
    assert _count(session, WebhookEndpoint) == 1


def test_resend_only_dead_or_failed(session, actor) -> None:
    msg = service.enqueue(session, channel="email", customer_id=None, to="a@example.com", dedupe_key="r1",
                          actor=actor, subject="s", text="t")
    with pytest.raises(InvalidState):
        service.resend(session, message_id=msg.id, actor=actor)
    assert service.get_message(session, msg.id).status == "queued"


# --------------------------------------------------------------------------- policy arithmetic

def test_quiet_hours_end_across_midnight_and_dst() -> None:
    policy = MessagingPolicy(quiet_hours_start=time(21, 0), quiet_hours_end=time(8, 0))
    cph = ZoneInfo("Europe/Copenhagen")
    # 22:30 local on the night summer time starts (29 March 2026): the morning is UTC+2
    evening = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)
    assert service.quiet_until(evening, cph, policy) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # 03:00 local is still quiet, until 08:00 the same day
    assert service.quiet_until(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), cph, policy) == \
        datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    assert service.quiet_until(datetime(2026, 1, 5, 12, 0, tzinfo=UTC), cph, policy) is None
    daytime = MessagingPolicy(quiet_hours_start=time(12, 0), quiet_hours_end=time(14, 0))
    assert service.quiet_until(datetime(2026, 1, 5, 12, 30, tzinfo=UTC), ZoneInfo("UTC"), daytime) == \
        datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = MessagingPolicy(backoff_base_seconds=60, backoff_max_seconds=3600)
    rng = random.Random(7)
    for attempt, full in ((1, 60), (2, 120), (3, 240), (7, 3600), (20, 3600)):
        delays = [service.backoff_delay(attempt, policy, rng=rng).total_seconds() for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) == 50  # jitter: no two retries at the same instant

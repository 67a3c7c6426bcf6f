"""End-to-end delivery through the worker to real receivers (aiosmtpd, a local HTTP server).

These tests commit (the worker uses its own transactions), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalist import clock
from loyalist.config import Settings
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn
from loyalist.interactions import service as interactions
from loyalist.messaging import service
from loyalist.messaging.models import Message
from loyalist.messaging.schemas import MessagingPolicy, TemplateCreate, WebhookEndpointCreate
from loyalist.messaging.testing import HttpReceiver, free_port
from loyalist.signing import verify_webhook
from loyalist.worker import deliver_outbox, run_once

from .conftest import NOON, committed, make_customer


def _status(engine, message_id):  # type: ignore[no-untyped-def]
    with committed(engine) as s:
        return service.get_message(s, message_id)


def test_email_multipart_cyrillic_subject_and_unsubscribe_headers(committed_engine, smtp, settings, policy,
                                                                  actor, frozen) -> None:
    with committed(committed_engine) as s:
        cid = make_customer(s, actor, first_name="Анна", locale="ru")
        service.create_template(s, actor=actor, data=TemplateCreate(
            key="welcome", locale="ru", subject="Привет, {{ first_name }}! Ваши {{ points }} баллов",
            text="Здравствуйте, {{ first_name }}.", html="<p>Здравствуйте, <b>{{ first_name }}</b></p>"))
        service.create_template(s, actor=actor, data=TemplateCreate(
            key="welcome", locale="en", subject="Hello {{ first_name }}", text="Hi"))
        msg = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="welcome:1", actor=actor,
                              template="welcome", context={"points": 150})
    report = run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    assert (report.delivery.claimed, report.delivery.sent) == (1, 1)
    assert len(smtp.sink.raw) == 1
    mail = smtp.sink.raw[0]
    assert mail["Subject"] == "Привет, Анна! Ваши 150 баллов"
    assert "=?utf-8?" in mail.as_string().split("Subject:", 1)[1].split("\n", 1)[0].lower()
    assert mail["To"] == "anna@example.com"
    assert mail["From"] == "Shop <shop@example.org>"
    assert mail["Message-ID"] == service.message_id_header("welcome:1", mail_from="shop@example.org")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Здравствуйте, Анна.\n"
    assert mail.get_body(("html",)).get_content().replace("\r\n", "\n") == "<p>Здравствуйте, <b>Анна</b></p>\n"
    unsub = mail["List-Unsubscribe"]
    assert unsub.startswith("<mailto:unsubscribe@example.org?subject=unsubscribe%20")
    assert "https://loyal.example.org/v1/public/unsubscribe?token=" in unsub
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # the https link really unsubscribes this customer from email
    token = unsub.rsplit("token=", 1)[1].rstrip(">")
    with committed(committed_engine) as s:
        assert service.unsubscribe(s, token=token).unsubscribed is True
        assert customers.has_consent(s, cid, "email") is False
    done = _status(committed_engine, msg.id)
    assert (done.status, done.attempts, done.sent_at, done.locale) == ("sent", 1, NOON, "ru")
    with committed(committed_engine) as s:
        rows = [r for r in interactions.list_timeline(s, cid).items if r.kind == "message"]
    assert len(rows) == 1
    assert rows[0].data["status"] == "sent" and rows[0].data["message_id"] == msg.id
    assert rows[0].channel == "email" and rows[0].direction == "outbound"


def test_crash_between_send_and_ack_is_delivered_once(committed_engine, smtp, settings, policy, actor,
                                                      monkeypatch) -> None:
    """The worker dies after the SMTP server accepted the mail but before it marked it sent."""

    class Crash(BaseException):
        pass

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Crash()

    with clock.frozen_at(NOON), committed(committed_engine) as s:
        cid = make_customer(s, actor)
        msg = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="receipt:77", actor=actor,
                              subject="Your receipt", text="Thanks", category="transactional")
    monkeypatch.setattr(service, "record_sent", die)
    with pytest.raises(Crash):
        run_once(committed_engine, as_of=NOON, settings=settings, policy=policy, worker_id="w1", jobs=False)
    monkeypatch.undo()
    assert len(smtp.sink.raw) == 1
    stuck = _status(committed_engine, msg.id)
    assert (stuck.status, stuck.attempts) == ("sending", 1)
    # while the lease holds, nobody touches it
    early = run_once(committed_engine, as_of=NOON + timedelta(seconds=60), settings=settings, policy=policy,
                     worker_id="w2", jobs=False)
    assert early.delivery.claimed == 0
    assert _status(committed_engine, msg.id).status == "sending"
    # after the lease: retried, with the same Message-ID, so the receiver keeps one copy
    late = run_once(committed_engine, as_of=NOON + timedelta(seconds=121), settings=settings, policy=policy,
                    worker_id="w2", jobs=False)
    assert (late.delivery.claimed, late.delivery.sent) == (1, 1)
    assert len(smtp.sink.raw) == 2
    assert smtp.sink.raw[0]["Message-ID"] == smtp.sink.raw[1]["Message-ID"]
    assert len(smtp.sink.store) == 1
    done = _status(committed_engine, msg.id)
    assert (done.status, done.attempts) == ("sent", 2)


def test_webhook_crash_retry_carries_same_idempotency_key(committed_engine, policy, actor, monkeypatch) -> None:
    class Crash(BaseException):
        pass

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Crash()

    with HttpReceiver() as receiver, clock.frozen_at(NOON):
        with committed(committed_engine) as s:
            service.create_endpoint(s, actor=actor, data=WebhookEndpointCreate(url=f"{receiver.url}/hook",
                                                                             events=["points.*"]))
            [msg] = service.publish_webhook(s, event="points.earned", payload={"customer_id": 5, "points": 40},
                                            dedupe_key="ledger:9", actor=actor)
        monkeypatch.setattr(service, "record_sent", die)
        with pytest.raises(Crash):
            run_once(committed_engine, as_of=NOON, policy=policy, jobs=False)
        monkeypatch.undo()
        run_once(committed_engine, as_of=NOON + timedelta(seconds=121), policy=policy, jobs=False)
    assert len(receiver.raw) == 2 and len(receiver.store) == 1
    assert receiver.raw[0].headers["idempotency-key"] == receiver.raw[1].headers["idempotency-key"]
    assert receiver.raw[0].body == receiver.raw[1].body
    assert _status(committed_engine, msg.id).status == "sent"


def test_two_workers_racing_deliver_each_message_once(committed_engine, smtp, settings, actor) -> None:
    """Two workers (threads with their own connections) drain the same outbox concurrently."""
    policy = MessagingPolicy(lease_seconds=600)
    with committed(committed_engine) as s:
        ids = [service.enqueue(s, channel="email", customer_id=None, to=f"c{i}@example.com",
                               dedupe_key=f"race:{i}", actor=actor, subject=f"n{i}", text="x",
                               category="transactional").id for i in range(40)]
    reports = {}
    start = threading.Barrier(2)

    def work(name: str) -> None:
        start.wait()
        reports[name] = deliver_outbox(committed_engine, worker_id=name, batch=5, settings=settings, policy=policy)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(smtp.sink.raw) == 40  # raw deliveries, before any dedupe: nobody sent twice
    assert sorted(m["Subject"] for m in smtp.sink.raw) == sorted(f"n{i}" for i in range(40))
    assert reports["a"].sent + reports["b"].sent == 40
    with committed(committed_engine) as s:
        rows = s.scalars(select(Message).where(Message.id.in_(ids))).all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    if committed_engine.dialect.name == "postgresql":
        assert reports["a"].sent > 0 and reports["b"].sent > 0  # SKIP LOCKED let both work


def test_sms_through_http_gateway(committed_engine, gateway, settings, policy, actor, frozen) -> None:
    with committed(committed_engine) as s:
        cid = make_customer(s, actor, phone="+4520123456", locale="da")
        msg = service.enqueue(s, channel="sms", customer_id=cid, dedupe_key="sms:1", actor=actor,
                              text="Hej {{ first_name }}, din kode er {{ code }}", context={"code": "1234"},
                              category="transactional")
    run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    [call] = gateway.raw
    assert call.path == "/sms"
    assert call.headers["authorization"] == "Bearer gw-token"
    assert call.headers["idempotency-key"] == service.idempotency_key("sms:1")
    assert call.json() == {"to": "+4520123456", "text": "Hej Anna, din kode er 1234",
                           "sender": "Loyalist de",
                           "reference": service.idempotency_key("sms:1")}
    done = _status(committed_engine, msg.id)
    assert (done.status, done.provider_message_id) == ("sent", "gw-0")


def test_sms_gateway_errors_retry_or_fail(committed_engine, settings, policy, actor, frozen) -> None:
    answers = {"+4520123456": 503, "+4520123457": 400}
    respond = lambda call: (answers[call.json()["to"]], {"error": "nope"})  # noqa: E731
    with HttpReceiver(respond) as receiver:
        local = settings.model_copy(update={"sms_gateway_url": f"{receiver.url}/sms"})
        with committed(committed_engine) as s:
            a = service.enqueue(s, channel="sms", customer_id=None, to="+4520123456", dedupe_key="s:a",
                                actor=actor, text="a", category="transactional")
            b = service.enqueue(s, channel="sms", customer_id=None, to="+4520123457", dedupe_key="s:b",
                                actor=actor, text="b", category="transactional")
        report = run_once(committed_engine, settings=local, policy=policy, jobs=False)
    assert (report.delivery.retried, report.delivery.failed) == (1, 1)
    retry, failed = _status(committed_engine, a.id), _status(committed_engine, b.id)
    assert (retry.status, retry.attempts) == ("queued", 1)
    assert "HTTP 503" in retry.last_error
    assert (failed.status, failed.reason) == ("failed", "rejected")
    assert "HTTP 400" in failed.last_error


def test_webhook_signed_and_verified_by_receiver(committed_engine, policy, actor, frozen) -> None:
    verified: list[dict] = []

    def respond(call):  # type: ignore[no-untyped-def]
        verify_webhook(secret, timestamp=call.headers["x-loyalist-timestamp"],
                       signature=call.headers["x-loyalist-signature"], body=call.body)
        verified.append(call.json())
        return 200, {}

    with HttpReceiver(respond) as receiver:
        with committed(committed_engine) as s:
            created = service.create_endpoint(s, actor=actor, data=WebhookEndpointCreate(
                url=f"{receiver.url}/in", events=["customer.created"]))
            secret = created.secret
            service.create_endpoint(s, actor=actor, data=WebhookEndpointCreate(
                url=f"{receiver.url}/other", events=["purchase.created"]))
            out = service.publish_webhook(s, event="customer.created", payload={"customer_id": 42, "name": "Øjvind"},
                                          dedupe_key="cust:42", actor=actor)
            again = service.publish_webhook(s, event="customer.created", payload={"customer_id": 42},
                                            dedupe_key="cust:42", actor=actor)
        assert len(out) == 1 and [m.id for m in again] == [out[0].id]
        run_once(committed_engine, policy=policy, jobs=False)
    assert verified == [{"id": "cust:42", "event": "customer.created", "created_at": NOON.isoformat(),
                         "data": {"customer_id": 42, "name": "Øjvind"}}]
    assert receiver.raw[0].headers["x-loyalist-event"] == "customer.created"
    # the receiver's check is real: a wrong secret or an altered body is refused
    from loyalist.errors import InvalidToken

    call = receiver.raw[0]
    with pytest.raises(InvalidToken):
        verify_webhook("wrong-secret", timestamp=call.headers["x-loyalist-timestamp"],
                       signature=call.headers["x-loyalist-signature"], body=call.body)
    with pytest.raises(InvalidToken):
        verify_webhook(secret, timestamp=call.headers["x-loyalist-timestamp"],
                       signature=call.headers["x-loyalist-signature"], body=call.body.replace(b"42", b"43"))
    assert _status(committed_engine, out[0].id).status == "sent"


def test_consent_withdrawn_after_enqueue_is_honoured(committed_engine, smtp, settings, policy, actor,
                                                     frozen) -> None:
    with committed(committed_engine) as s:
        cid = make_customer(s, actor)
        promo = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="promo:1", actor=actor,
                                subject="Sale", text="50% off")
        receipt = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="receipt:1", actor=actor,
                                  subject="Receipt", text="Thanks", category="transactional")
        customers.set_consent(s, customer_id=cid, actor=actor,
                              data=ConsentIn(channel="email", granted=False, source="api"))
    report = run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    assert (report.delivery.sent, report.delivery.skipped) == (1, 1)
    assert [m["Subject"] for m in smtp.sink.raw] == ["Receipt"]
    skipped = _status(committed_engine, promo.id)
    assert (skipped.status, skipped.reason) == ("skipped", "no email consent")
    assert _status(committed_engine, receipt.id).status == "sent"
    with committed(committed_engine) as s:
        facts = [r.data for r in interactions.list_timeline(s, cid).items if r.kind == "message"]
    assert sorted((f["message_id"], f["status"]) for f in facts) == sorted([(promo.id, "skipped"),
                                                                            (receipt.id, "sent")])


def test_quiet_hours_follow_the_customers_timezone(committed_engine, smtp, settings, policy, actor,
                                                   frozen) -> None:
    with committed(committed_engine) as s:
        tokyo = make_customer(s, actor, email="t@example.com", timezone="Asia/Tokyo")  # 21:00 there
        cph = make_customer(s, actor, email="c@example.com", timezone="Europe/Copenhagen")  # 13:00
        m_tokyo = service.enqueue(s, channel="email", customer_id=tokyo, dedupe_key="q:t", actor=actor,
                                  subject="Tokyo", text="x")
        m_cph = service.enqueue(s, channel="email", customer_id=cph, dedupe_key="q:c", actor=actor,
                                subject="Copenhagen", text="x")
        m_code = service.enqueue(s, channel="email", customer_id=tokyo, dedupe_key="q:code", actor=actor,
                                 subject="Code", text="1234", category="transactional")
    report = run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    assert (report.delivery.sent, report.delivery.deferred) == (2, 1)
    assert sorted(m["Subject"] for m in smtp.sink.raw) == ["Code", "Copenhagen"]
    waiting = _status(committed_engine, m_tokyo.id)
    morning = NOON.replace(hour=23)  # 08:00 in Tokyo (UTC+9)
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == ("queued", 0, morning)
    assert waiting.reason == f"quiet hours until {morning.isoformat()}"
    assert run_once(committed_engine, as_of=morning - timedelta(seconds=1), settings=settings, policy=policy,
                    jobs=False).delivery.claimed == 0
    run_once(committed_engine, as_of=morning, settings=settings, policy=policy, jobs=False)
    assert _status(committed_engine, m_tokyo.id).status == "sent"
    assert _status(committed_engine, m_cph.id).status == "sent"
    assert _status(committed_engine, m_code.id).sent_at == NOON


def test_frequency_caps_per_day_and_week_exempt_transactional(committed_engine, smtp, settings, actor) -> None:
    policy = MessagingPolicy(cap_per_day={"email": 1}, cap_per_week={"email": 2}, quiet_hours_start=None)
    with clock.frozen_at(NOON), committed(committed_engine) as s:
        cid = make_customer(s, actor, timezone="Europe/Copenhagen")
    outcomes = []
    for day, n in ((0, 2), (1, 1), (2, 1)):
        when = NOON + timedelta(days=day)
        with clock.frozen_at(when):
            with committed(committed_engine) as s:
                ids = [service.enqueue(s, channel="email", customer_id=cid, dedupe_key=f"cap:{day}:{i}",
                                       actor=actor, subject=f"d{day}m{i}", text="x").id for i in range(n)]
                receipt = service.enqueue(s, channel="email", customer_id=cid, dedupe_key=f"cap:{day}:r",
                                          actor=actor, subject=f"r{day}", text="x", category="transactional")
            run_once(committed_engine, settings=settings, policy=policy, jobs=False)
        outcomes += [(_status(committed_engine, i).status, _status(committed_engine, i).reason) for i in ids]
        assert _status(committed_engine, receipt.id).status == "sent"
    assert outcomes == [("sent", None), ("skipped", "frequency cap: 1 marketing email per day"),
                        ("sent", None), ("skipped", "frequency cap: 2 marketing email per week")]
    assert sorted(m["Subject"] for m in smtp.sink.raw) == ["d0m0", "d1m0", "r0", "r1", "r2"]


def test_backoff_then_dead_letter_then_resend(committed_engine, policy, actor) -> None:
    down = Settings(smtp_host="127.0.0.1", smtp_port=free_port())  # nothing listens there
    with clock.frozen_at(NOON), committed(committed_engine) as s:
        msg = service.enqueue(s, channel="email", customer_id=None, to="x@example.com", dedupe_key="down:1",
                              actor=actor, subject="s", text="t", category="transactional")
    now = NOON
    expected_windows = [(30, 60), (60, 120)]  # attempt n waits base*2^(n-1), half of it random
    for low, high in expected_windows:
        report = run_once(committed_engine, as_of=now, settings=down, policy=policy, jobs=False)
        assert report.delivery.retried == 1
        row = _status(committed_engine, msg.id)
        assert row.status == "queued" and "unreachable" in row.last_error
        assert now + timedelta(seconds=low) <= row.next_attempt_at <= now + timedelta(seconds=high)
        now = row.next_attempt_at
    report = run_once(committed_engine, as_of=now, settings=down, policy=policy, jobs=False)
    assert report.delivery.dead == 1
    dead = _status(committed_engine, msg.id)
    assert (dead.status, dead.attempts, dead.reason) == ("dead", 3, "gave up after 3 attempts")
    with committed(committed_engine) as s:
        again = service.resend(s, message_id=msg.id, actor=actor)
    assert (again.status, again.attempts) == ("queued", 0)


def test_hard_bounce_suppresses_the_address(committed_engine, smtp, settings, policy, actor, frozen) -> None:
    smtp.sink.reject["gone@example.com"] = "550 5.1.1 <gone@example.com>: no such user"
    with committed(committed_engine) as s:
        cid = make_customer(s, actor, email="gone@example.com")
        first = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="b:1", actor=actor,
                                subject="One", text="x", category="transactional")
    report = run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    assert report.delivery.failed == 1
    failed = _status(committed_engine, first.id)
    assert (failed.status, failed.reason, failed.attempts) == ("failed", "hard bounce", 1)
    assert "550" in failed.last_error
    with committed(committed_engine) as s:
        [sup] = service.list_suppressions(s)
        assert (sup.channel, sup.reason, sup.address_hint, sup.customer_id) == ("email", "hard_bounce",
                                                                              "g***@example.com", cid)
        second = service.enqueue(s, channel="email", customer_id=cid, dedupe_key="b:2", actor=actor,
                                 subject="Two", text="x", category="transactional")
    del smtp.sink.reject["gone@example.com"]
    report = run_once(committed_engine, settings=settings, policy=policy, jobs=False)
    assert report.delivery.suppressed == 1
    blocked = _status(committed_engine, second.id)
    assert (blocked.status, blocked.reason) == ("suppressed", "address suppressed (hard_bounce)")
    assert smtp.sink.raw == []


def test_enqueue_inside_a_rolled_back_transaction_sends_nothing(committed_engine, smtp, settings, policy,
                                                                 actor, frozen) -> None:
    with pytest.raises(RuntimeError), committed(committed_engine) as s:
        service.enqueue(s, channel="email", customer_id=None, to="a@example.com", dedupe_key="rb:1",
                        actor=actor, subject="s", text="t", category="transactional")
        raise RuntimeError("the purchase failed")
    assert run_once(committed_engine, settings=settings, policy=policy, jobs=False).delivery.claimed == 0
    assert smtp.sink.raw == []


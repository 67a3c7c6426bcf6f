"""Messages take part in merge, GDPR export and erasure through customers.hooks."""

from __future__ import annotations

from loyalist.customers import service as customers
from loyalist.messaging import service

from .conftest import make_customer


def _mail(session, actor, cid, key, **kw):  # type: ignore[no-untyped-def]
    return service.enqueue(session, channel="email", customer_id=cid, dedupe_key=key, actor=actor,
                           subject="Hello Anna", text="Dear Anna", **kw)


def test_merge_moves_messages_to_the_survivor(session, actor) -> None:
    survivor = make_customer(session, actor, email="a@example.com")
    duplicate = make_customer(session, actor, email="b@example.com")
    msg = _mail(session, actor, duplicate, "m1")
    customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    assert service.get_message(session, msg.id).customer_id == survivor
    assert service.list_messages(session, customer_id=duplicate).total == 0


def test_export_lists_the_customers_messages(session, actor) -> None:
    cid = make_customer(session, actor)
    msg = _mail(session, actor, cid, "e1")
    exported = customers.export_customer(session, cid)
    [row] = exported["sections"]["messages"]
    assert (row["id"], row["to"], row["subject"], row["status"]) == (msg.id, "anna@example.com", "Hello Anna",
                                                                     "queued")


def test_erasure_blanks_texts_and_stops_queued_messages(session, actor) -> None:
    cid = make_customer(session, actor)
    msg = _mail(session, actor, cid, "x1")
    other = make_customer(session, actor, email="keep@example.com")
    kept = _mail(session, actor, other, "x2")
    customers.erase_customer(session, customer_id=cid, actor=actor)
    session.expire_all()
    erased = service.get_message(session, msg.id)
    assert (erased.to, erased.subject, erased.text, erased.html) == (None, None, "[erased]", None)
    assert (erased.status, erased.reason) == ("skipped", "customer erased")
    assert service.get_message(session, kept.id).to == "keep@example.com"
    assert "anna@example.com" not in str(customers.export_customer(session, cid))

"""Merging duplicates keeps every piece of history and makes the duplicate's ids resolve."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import hooks, service
from loyalist.customers.models import Customer
from loyalist.customers.schemas import AddressIn, ConsentIn
from loyalist.errors import InvalidState, NotFound, ValidationFailed
from loyalist.interactions import service as timeline
from loyalist.interactions.models import Interaction


@pytest.fixture
def pair(session, actor, make_customer):
    a = make_customer(external_id="SURV", first_name="Anna", email="anna@example.com",
                      tags=["vip"], values=["gifts"], address=AddressIn(line1="Old 1", country="DK"))
    b = make_customer(external_id="DUP", phone="+4520123456", birthday=None, tags=["vip", "b2b"],
                      values=["discounts"], address=AddressIn(line1="New 2", country="DK"),
                      consents=[ConsentIn(channel="sms", granted=True)])
    for i in range(3):
        timeline.record(session, customer_id=b.id, kind="purchase", channel="online", summary=f"order {i}",
                        occurred_at=datetime(2026, 1, i + 1, tzinfo=UTC), source_type="order", source_id=str(i))
    timeline.record(session, customer_id=a.id, kind="call", channel="phone", summary="asked about points")
    return a, b


def test_merge_moves_all_history_and_resolves(session, actor, pair) -> None:
    a, b = pair
    rows_a = timeline.count_for_customer(session, a.id)
    rows_b = timeline.count_for_customer(session, b.id)
    all_ids = set(session.scalars(select(Interaction.id)))
    with clock.frozen_at(datetime(2026, 5, 1, tzinfo=UTC)):
        result = service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    assert timeline.count_for_customer(session, a.id) == rows_a + rows_b + 1  # + the merge row itself
    assert timeline.count_for_customer(session, b.id) == 0
    assert all_ids < set(session.scalars(select(Interaction.id)))
    assert result.moved == {"timeline": rows_b, "addresses": 1, "consents": 1, "tags": 1, "values": 1}
    s = result.survivor
    assert (s.first_name, s.email, s.phone, s.tags, s.values) == (
        "Anna", "anna@example.com", "+4520123456", ["b2b", "vip"], ["discounts", "gifts"])
    dup = service.get_customer(session, b.id)
    assert (dup.status, dup.merged_into_id, dup.external_id) == ("merged", a.id, "DUP")
    assert service.resolve_customer_id(session, customer_id=b.id) == a.id
    assert service.resolve_customer_id(session, external_id="DUP") == a.id
    assert service.ensure_customer(session, external_id="DUP", actor=actor) == a.id
    # survivor's address stays current, the duplicate's becomes history
    current = service.list_addresses(session, a.id, history=False)
    assert [x.line1 for x in current] == ["Old 1"]
    assert sorted(x.line1 for x in service.list_addresses(session, a.id)) == ["New 2", "Old 1"]
    assert [(c.channel, c.granted) for c in service.list_consents(session, a.id)] == [("sms", True)]
    merge_row = timeline.list_timeline(session, a.id, kinds=["merge"]).items
    assert [r.data["duplicate_id"] for r in merge_row] == [b.id]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.merge")).one()
    assert entry.target_id == str(a.id)
    assert entry.after["moved"] == result.moved
    assert "anna@example.com" not in str(entry.before) + str(entry.after)


def test_merge_calls_registered_handlers(session, actor, pair) -> None:
    a, b = pair
    calls = []

    def handler(session_, *, survivor_id, duplicate_id, actor):  # noqa: ANN001
        calls.append((survivor_id, duplicate_id, actor.name))

    hooks.register_merge_handler(handler)
    try:
        service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    finally:
        hooks.unregister(handler)
    assert calls == [(a.id, b.id, actor.name)]


def test_chained_merges_resolve_in_one_hop(session, actor, make_customer) -> None:
    a = make_customer(external_id="A")
    b = make_customer(external_id="B")
    c = make_customer(external_id="C")
    service.merge_customers(session, survivor_id=b.id, duplicate_id=c.id, actor=actor)
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    assert session.get(Customer, c.id).merged_into_id == a.id
    assert service.resolve_customer_id(session, external_id="C") == a.id


def test_rejected_merges_change_nothing(session, actor, pair) -> None:
    a, b = pair
    n_rows = session.scalar(select(func.count(Interaction.id)))
    n_audit = session.scalar(select(func.count(AuditEntry.id)))
    with pytest.raises(ValidationFailed) as err:
        service.merge_customers(session, survivor_id=a.id, duplicate_id=a.id, actor=actor)
    assert err.value.field == "duplicate_id"
    with pytest.raises(NotFound) as err:
        service.merge_customers(session, survivor_id=a.id, duplicate_id=10**9, actor=actor)
    assert err.value.field == "duplicate_id"
    with pytest.raises(NotFound) as err:
        service.merge_customers(session, survivor_id=10**9, duplicate_id=b.id, actor=actor)
    assert err.value.field == "survivor_id"
    assert session.scalar(select(func.count(Interaction.id))) == n_rows
    assert session.scalar(select(func.count(AuditEntry.id))) == n_audit
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    with pytest.raises(InvalidState) as err:
        service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    assert err.value.field == "duplicate_id"


def test_find_duplicates_by_email_and_phone(session, actor, make_customer) -> None:
    a = make_customer(external_id="1", email="x@example.com", phone="+4520123456")
    b = service.ensure_customer(session, external_id="2", actor=actor, email="X@example.com")
    c = make_customer(external_id="3", phone="+45 20 12 34 56")
    make_customer(external_id="4", email="other@example.com")
    groups = service.find_duplicates(session)
    assert [(g.match, g.value, g.customer_ids) for g in groups] == [
        ("email", "x@example.com", [a.id, b]),
        ("phone", "+4520123456", [a.id, c.id]),
    ]
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b, actor=actor)
    assert [(g.match, g.customer_ids) for g in service.find_duplicates(session)] == [("phone", [a.id, c.id])]

"""Bulk creation writes exactly what one-by-one creation writes, or nothing at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalist.audit.models import AuditEntry
from loyalist.customers import service
from loyalist.customers.models import Customer
from loyalist.customers.schemas import AddressIn, ConsentIn, CustomerCreate
from loyalist.errors import Conflict, ValidationFailed
from loyalist.interactions import service as interactions


def _items() -> list[CustomerCreate]:
    return [
        CustomerCreate(external_id="X1", first_name="Ann", email="Ann@Example.com", phone="+45 20 11 22 33",
                       tags=["VIP", "vip"], values=["discounts"], locale="da",
                       address=AddressIn(line1="Gade 1", city="Aarhus", country="DK"),
                       consents=[ConsentIn(channel="email", granted=True, source="import")]),
        CustomerCreate(external_id="X2", first_name="Олег", locale="uk",
                       consents=[ConsentIn(channel="sms", granted=False, source="import")]),
    ]


def _shape(session, cid: int) -> tuple:  # type: ignore[no-untyped-def]
    c = service.get_customer(session, cid)
    timeline = interactions.list_timeline(session, cid, limit=50)
    return (c.first_name, c.email, c.phone, c.locale, c.tags, c.values,
            [(a.line1, a.city, a.country) for a in service.list_addresses(session, cid)],
            [(x.channel, x.granted, x.source) for x in service.list_consents(session, cid, history=True)],
            sorted(i.summary for i in timeline.items))


def test_bulk_equals_one_by_one(session, actor) -> None:
    one = [service.create_customer(session, data=item, actor=actor).id for item in _items()]
    expected = [_shape(session, cid) for cid in one]
    for cid in one:
        session.execute(Customer.__table__.update().where(Customer.id == cid).values(
            external_id=f"old-{cid}", email=None))
    ids = service.create_customers(session, items=_items(), actor=actor)
    assert [_shape(session, cid) for cid in ids] == expected
    audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "customer.create", AuditEntry.target_id.in_([str(i) for i in ids])))
    assert audits == 2


@pytest.mark.parametrize("bad, field, line", [
    ([CustomerCreate(external_id="A"), CustomerCreate(email="not-an-email")], "email", 2),
    ([CustomerCreate(external_id="A"), CustomerCreate(external_id="A")], "external_id", 2),
    ([CustomerCreate(external_id="A", email="a@x.dk"), CustomerCreate(external_id="B", email="A@x.dk")], "email", 2),
    ([CustomerCreate(first_name="Only"), CustomerCreate()], "external_id", 2),
])
def test_a_bad_row_is_named_and_nothing_is_written(session, actor, bad, field, line) -> None:
    before = session.scalar(select(func.count()).select_from(Customer))
    with pytest.raises((ValidationFailed, Conflict)) as caught:
        service.create_customers(session, items=bad, actor=actor)
    assert caught.value.field == field and caught.value.line == line and f"line {line}" in str(caught.value)
    assert session.scalar(select(func.count()).select_from(Customer)) == before


def test_an_existing_external_id_is_a_conflict(session, actor) -> None:
    service.create_customer(session, data=CustomerCreate(external_id="E1"), actor=actor)
    with pytest.raises(Conflict) as caught:
        service.create_customers(session, items=[CustomerCreate(external_id="N1"), CustomerCreate(external_id="E1")],
                                 actor=actor)
    assert caught.value.line == 2
    assert session.scalar(select(func.count()).select_from(Customer)) == 1

"""Creating, validating, updating and searching customer profiles."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import service
from loyalist.customers.models import Customer, CustomerAddress, CustomerConsent, CustomerTag, CustomerValue
from loyalist.customers.schemas import AddressIn, ConsentIn, CustomerCreate, CustomerUpdate
from loyalist.errors import Conflict, InvalidState, ValidationFailed
from loyalist.interactions.models import Interaction


def _counts(session) -> tuple[int, ...]:
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (
        Customer, CustomerAddress, CustomerConsent, CustomerTag, CustomerValue, Interaction, AuditEntry))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone": "+45 123"}, "phone"),
        ({"phone": "20123456"}, "phone"),  # no region known: must be international
        ({"phone": "20123456", "phone_region": "XX"}, "phone_region"),
        ({"locale": "english please"}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"birthday": date(2999, 1, 1)}, "birthday"),
        ({"birthday": date(1850, 1, 1)}, "birthday"),
        ({"tags": ["Has Space"]}, "tag"),
        ({"values": ["money"]}, "values"),
        ({"address": AddressIn(line1="Main 1", country="Denmark")}, "address.country"),
        ({"address": AddressIn(line1=" ", country="DK")}, "address.line1"),
        ({"address": AddressIn(label="moon", line1="x", country="DK")}, "address.label"),
        ({"consents": [ConsentIn(channel="fax", granted=True)]}, "consent.channel"),
        ({"consents": [ConsentIn(channel="email", granted=True, source="rumour")]}, "consent.source"),
        ({"first_name": "  "}, "external_id"),  # nothing identifying at all
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(session, actor, fields, field) -> None:
    before = _counts(session)
    data = {"external_id": "C-1", **fields} if field != "external_id" else fields
    with pytest.raises(ValidationFailed) as err:
        service.create_customer(session, data=CustomerCreate(**data), actor=actor)
    assert err.value.field == field
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("phone", "extra", "expected"),
    [
        ("+45 20 12 34 56", {}, "+4520123456"),
        ("0045 20123456", {}, "+4520123456"),
        ("20 12 34 56", {"locale": "da"}, "+4520123456"),
        ("020 7946 0018", {"locale": "en-GB"}, "+442079460018"),
        ("(201) 555-0123", {"phone_region": "us"}, "+12015550123"),
        ("067 123 4567", {"locale": "uk"}, "+380671234567"),
        ("20123456", {"address": AddressIn(line1="Vej 1", country="dk")}, "+4520123456"),
    ],
)
def test_phone_is_stored_as_e164(session, actor, phone, extra, expected) -> None:
    c = service.create_customer(session, data=CustomerCreate(external_id="P", phone=phone, **extra), actor=actor)
    assert c.phone == expected
    assert session.get(Customer, c.id).phone == expected


def test_full_create_normalises_everything(session, actor) -> None:
    with clock.frozen_at(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)):
        c = service.create_customer(session, data=CustomerCreate(
            external_id=" shop-77 ", first_name=" Olha ", last_name="Koval", email="Olha.Koval@Example.UA",
            phone="+380 67 123 4567", birthday=date(1990, 5, 17), locale="uk_ua", timezone="Europe/Kyiv",
            preferred_channel="SMS", tags=["VIP", "vip", "kyiv"], values=["greetings", "Discounts"],
            values_note="likes being remembered", address=AddressIn(line1="Khreshchatyk 1", city="Kyiv",
                                                                    country="ua"),
            consents=[ConsentIn(channel="email", granted=True, source="portal")]), actor=actor)
    assert c.model_dump() == {
        "id": c.id, "external_id": "shop-77", "first_name": "Olha", "last_name": "Koval", "display_name": None,
        "name": "Olha Koval", "email": "olha.koval@example.ua", "phone": "+380671234567",
        "birthday": date(1990, 5, 17), "locale": "uk-UA", "timezone": "Europe/Kyiv", "preferred_channel": "sms",
        "status": "active", "merged_into_id": None, "tags": ["kyiv", "vip"], "values": ["discounts", "greetings"],
        "values_note": "likes being remembered", "created_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "updated_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
    }
    assert [a.city for a in service.list_addresses(session, c.id)] == ["Kyiv"]
    assert [(x.channel, x.granted, x.source) for x in service.list_consents(session, c.id)] == [
        ("email", True, "portal")]
    timeline = session.scalars(select(Interaction).where(Interaction.customer_id == c.id)).all()
    assert [(t.kind, t.summary) for t in timeline] == [("profile_change", "Customer profile created"),
                                                       ("consent_change", "Consent for email granted")]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(c.id))).all()
    assert [a.action for a in audit] == ["customer.create"]
    assert audit[0].after["email"] == "[redacted]"
    assert audit[0].after["external_id"] == "shop-77"


def test_duplicate_email_conflicts_case_insensitively(session, actor, make_customer) -> None:
    make_customer(external_id="A", email="same@example.com")
    before = _counts(session)
    with pytest.raises(Conflict) as err:
        make_customer(external_id="B", email="SAME@example.com")
    assert err.value.field == "email"
    assert _counts(session) == before


def test_update_changes_only_given_fields_and_audits(session, actor, make_customer) -> None:
    c = make_customer(external_id="U", first_name="Lars", email="lars@example.dk", locale="da")
    updated = service.update_customer(session, customer_id=c.id, actor=actor,
                                      data=CustomerUpdate(phone="20 12 34 56", last_name="Holm"))
    assert (updated.first_name, updated.last_name, updated.phone, updated.email) == (
        "Lars", "Holm", "+4520123456", "lars@example.dk")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.update")).one()
    assert entry.before == {"last_name": None, "phone": None}
    assert entry.after == {"last_name": "[redacted]", "phone": "[redacted]"}
    rows = session.scalars(select(Interaction.summary).where(Interaction.customer_id == c.id)
                           .order_by(Interaction.id)).all()
    assert rows == ["Customer profile created", "Profile updated: last_name, phone"]
    # clearing with explicit null
    cleared = service.update_customer(session, customer_id=c.id, actor=actor, data=CustomerUpdate(phone=None))
    assert cleared.phone is None


def test_update_noop_writes_nothing(session, actor, make_customer) -> None:
    c = make_customer(external_id="N", email="n@example.com")
    before = _counts(session)
    service.update_customer(session, customer_id=c.id, data=CustomerUpdate(email="N@EXAMPLE.COM"), actor=actor)
    assert _counts(session) == before


def test_update_rejections_change_nothing(session, actor, make_customer) -> None:
    a = make_customer(external_id="A", email="a@example.com")
    b = make_customer(external_id="B", email="b@example.com")
    before = _counts(session)
    cases = [
        (CustomerUpdate(email="a@example.com"), Conflict, "email"),
        (CustomerUpdate(external_id="A"), Conflict, "external_id"),
        (CustomerUpdate(external_id=None), ValidationFailed, "external_id"),
        (CustomerUpdate(status="erased"), ValidationFailed, "status"),
        (CustomerUpdate(timezone="Nowhere/Town"), ValidationFailed, "timezone"),
    ]
    for data, exc, field in cases:
        with pytest.raises(exc) as err:
            service.update_customer(session, customer_id=b.id, data=data, actor=actor)
        assert err.value.field == field
    session.expire_all()
    assert service.get_customer(session, b.id).email == "b@example.com"
    assert service.get_customer(session, a.id).external_id == "A"
    assert _counts(session) == before


def test_closed_customer_can_reopen_but_merged_cannot_change(session, actor, make_customer) -> None:
    a = make_customer(external_id="A")
    b = make_customer(external_id="B")
    closed = service.update_customer(session, customer_id=a.id, data=CustomerUpdate(status="closed"), actor=actor)
    assert closed.status == "closed"
    assert service.update_customer(session, customer_id=a.id, data=CustomerUpdate(status="active"),
                                   actor=actor).status == "active"
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    with pytest.raises(InvalidState) as err:
        service.update_customer(session, customer_id=b.id, data=CustomerUpdate(first_name="X"), actor=actor)
    assert err.value.field == "customer_id"


def test_list_search_filters_and_pages(session, actor, make_customer) -> None:
    ids = []
    for i, (name, email, phone) in enumerate([
        ("Anna Berg", "anna@example.com", "+4520123456"),
        ("Bo Dahl", "bo@shop.dk", "+4530123456"),
        ("Anna Holm", "holm@example.com", None),
        ("Carl 100%", "carl@example.com", None),
    ]):
        first, last = name.split(" ")
        c = make_customer(external_id=f"EXT-{i}", first_name=first, last_name=last, email=email,
                          phone=phone, tags=["vip"] if i % 2 == 0 else [])
        ids.append(c.id)
    q = lambda **kw: [c.id for c in service.list_customers(session, **kw).items]  # noqa: E731
    assert q(q="anna") == [ids[0], ids[2]]
    assert q(q="ANNA BERG") == [ids[0]]
    assert q(q="shop.dk") == [ids[1]]
    assert q(q="30 12") == [ids[1]]
    assert q(q="ext-3") == [ids[3]]
    assert q(q="100%") == [ids[3]]
    assert q(q="%") == [ids[3]]  # wildcards are literal
    assert q(tag="VIP") == [ids[0], ids[2]]
    assert q(tag="vip", q="holm") == [ids[2]]
    page = service.list_customers(session, limit=2, offset=2)
    assert ([c.id for c in page.items], page.total, page.limit, page.offset) == (ids[2:], 4, 2, 2)
    assert page.items[0].tags == ["vip"]
    with pytest.raises(ValidationFailed) as err:
        service.list_customers(session, status="sleeping")
    assert err.value.field == "status"


def test_ensure_customer_is_one_select_for_existing(session, actor) -> None:
    from sqlalchemy import event

    cid = service.ensure_customer(session, external_id="FAST", actor=actor)
    statements: list[str] = []
    conn = session.connection()
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(conn, "before_cursor_execute", listener)
    try:
        assert service.ensure_customer(session, external_id="FAST", actor=actor) == cid
    finally:
        event.remove(conn, "before_cursor_execute", listener)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")


def test_ensure_customer_rejects_bad_email(session, actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.ensure_customer(session, external_id="E", actor=actor, email="nope")
    assert err.value.field == "email"
    assert session.scalar(select(func.count(Customer.id))) == 0


def test_ensure_customer_insert_race_resolves_to_existing(session, actor) -> None:
    """When a concurrent importer inserted the external id first, the insert yields nothing and
    ensure_customer re-reads instead of failing."""
    cid = service.ensure_customer(session, external_id="RACE", actor=actor)
    now = clock.now()
    assert service._insert_customer_fast(session, {"external_id": "RACE", "email": None, "display_name": None,
                                                   "status": "active", "created_at": now, "updated_at": now}) is None
    assert session.scalar(select(func.count(Customer.id)).where(Customer.external_id == "RACE")) == 1
    assert service.ensure_customer(session, external_id="RACE", actor=actor) == cid


def test_ensure_customers_bulk(session, actor, make_customer) -> None:
    existing = make_customer(external_id="B-1")
    merged_away = make_customer(external_id="B-2")
    service.merge_customers(session, survivor_id=existing.id, duplicate_id=merged_away.id, actor=actor)
    audits = session.scalar(select(func.count(AuditEntry.id)))
    ids = service.ensure_customers(session, external_ids=["B-1", "B-2", " B-3 ", "B-4", "B-3"], actor=actor)
    assert set(ids) == {"B-1", "B-2", "B-3", "B-4"}
    assert (ids["B-1"], ids["B-2"]) == (existing.id, existing.id)
    new = sorted([ids["B-3"], ids["B-4"]])
    assert [service.get_customer(session, i).external_id for i in new] == ["B-3", "B-4"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.create_bulk")).one()
    assert entry.after == {"count": 2, "customer_ids": new}
    assert session.scalar(select(func.count(AuditEntry.id))) == audits + 1
    for cid in new:
        rows = session.scalars(select(Interaction.summary).where(Interaction.customer_id == cid)).all()
        assert rows == ["Customer profile created"]
    assert service.ensure_customers(session, external_ids=["B-3", "B-4"], actor=actor) == {
        "B-3": ids["B-3"], "B-4": ids["B-4"]}
    before = _counts(session)
    with pytest.raises(ValidationFailed) as err:
        service.ensure_customers(session, external_ids=["B-5", "  "], actor=actor)
    assert err.value.field == "external_id"
    assert _counts(session) == before


def test_update_phone_uses_the_address_country_as_region(session, actor, make_customer) -> None:
    c = make_customer(external_id="REG", address=AddressIn(line1="Vej 1", country="DK"))
    updated = service.update_customer(session, customer_id=c.id, data=CustomerUpdate(phone="20123456"), actor=actor)
    assert updated.phone == "+4520123456"

"""GDPR: export holds everything; erasure removes personal data everywhere, keeps ids and amounts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import hooks, service
from loyalist.customers.models import Customer, CustomerAddress, CustomerConsent
from loyalist.customers.schemas import AddressIn, ConsentIn, CustomerUpdate
from loyalist.interactions import service as timeline
from loyalist.interactions.models import Interaction

PII = ["Ingrid", "Sørensen", "ingrid@example.dk", "+4520123456", "1984-02-29", "Strandvejen 12", "Hellerup",
       "2900", "prefers mornings", "wants a callback", "sister of Bo", "whispered"]


@pytest.fixture(autouse=True)
def _whole_second_clock():
    """The leak check below searches the dump for short PII such as the postcode "2900"; with a
    live clock, a timestamp's microseconds could contain those digits and fail the test by chance."""
    with clock.frozen_at(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)):
        yield


@pytest.fixture
def ingrid(session, actor, make_customer):
    c = make_customer(external_id="ING-1", first_name="Ingrid", last_name="Sørensen", email="ingrid@example.dk",
                      phone="+45 20 12 34 56", birthday=date(1984, 2, 29), values=["personal_attention"],
                      values_note="prefers mornings", tags=["vip"],
                      address=AddressIn(line1="Strandvejen 12", city="Hellerup", postal_code="2900", country="DK"),
                      consents=[ConsentIn(channel="email", granted=True, note="wants a callback")])
    service.set_address(session, customer_id=c.id, actor=actor,
                        data=AddressIn(line1="Other 1", city="Hellerup", postal_code="2900", country="DK"))
    timeline.record(session, customer_id=c.id, kind="purchase", channel="in_store",
                    summary="Ingrid bought a coat, sister of Bo", occurred_at=datetime(2026, 2, 1, tzinfo=UTC),
                    source_type="order", source_id="O-77",
                    data={"order_id": "O-77", "total": "249.9500", "points": 250, "currency": "DKK",
                          "comment": "whispered", "lines": [{"sku": "COAT-1", "qty": 1, "gift_message": "Ingrid"}]})
    timeline.record(session, customer_id=c.id, kind="call", channel="phone", summary="Called ingrid@example.dk")
    return c


def _section(session, customer_id):  # noqa: ANN001
    return {"balance": 250, "customer": customer_id}


def test_export_contains_everything(session, actor, ingrid) -> None:
    hooks.register_export_section("test_points", _section)
    try:
        data = service.export_customer(session, ingrid.id)
    finally:
        hooks.unregister("test_points")
    json.dumps(data)  # JSON-ready
    assert data["profile"]["email"] == "ingrid@example.dk"
    assert data["profile"]["birthday"] == "1984-02-29"
    assert [a["line1"] for a in data["addresses"]] == ["Other 1", "Strandvejen 12"]
    assert [(c["channel"], c["note"]) for c in data["consents"]] == [("email", "wants a callback")]
    assert (data["tags"], data["values"]) == (["vip"], ["personal_attention"])
    assert [t["kind"] for t in data["timeline"]] == ["purchase", "profile_change", "consent_change", "profile_change",
                                                      "call"]
    assert data["sections"]["test_points"] == {"balance": 250, "customer": ingrid.id}


def _dump(session, customer_id: int) -> str:
    """Every row held about the customer in this domain plus every audit row, as one string."""
    rows: list[dict] = []
    for model, col in ((Customer, Customer.id), (CustomerAddress, CustomerAddress.customer_id),
                       (CustomerConsent, CustomerConsent.customer_id), (Interaction, Interaction.customer_id)):
        for r in session.scalars(select(model).where(col == customer_id)):
            rows.append({c.name: getattr(r, c.key) for c in model.__table__.columns})
    for r in session.scalars(select(AuditEntry)):
        rows.append({"before": r.before, "after": r.after})
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_erasure_removes_pii_everywhere_but_keeps_ids_and_amounts(session, actor, ingrid) -> None:
    service.update_customer(session, customer_id=ingrid.id, data=CustomerUpdate(first_name="Ingrid"), actor=actor)
    before = _dump(session, ingrid.id)
    assert all(p in before for p in PII[:4])  # the check below is meaningful
    erased_calls = []

    def on_erase(session_, *, customer_id, actor):  # noqa: ANN001
        erased_calls.append(customer_id)

    hooks.register_erasure_handler(on_erase)
    try:
        result = service.erase_customer(session, customer_id=ingrid.id, actor=actor)
    finally:
        hooks.unregister(on_erase)
    assert erased_calls == [ingrid.id]
    assert (result.id, result.external_id, result.status, result.name, result.email, result.phone,
            result.birthday, result.values_note) == (ingrid.id, "ING-1", "erased", None, None, None, None, None)
    session.expire_all()
    after = _dump(session, ingrid.id)
    leaked = [p for p in PII if p.lower() in after.lower()]
    assert leaked == []
    purchase = session.scalars(select(Interaction).where(Interaction.customer_id == ingrid.id,
                                                         Interaction.kind == "purchase")).one()
    assert (purchase.summary, purchase.source_id, purchase.occurred_at) == (
        "[erased] purchase", "O-77", datetime(2026, 2, 1, tzinfo=UTC))
    assert purchase.data == {"order_id": "O-77", "total": "249.9500", "points": 250, "currency": "DKK",
                             "comment": None, "lines": [{"sku": "COAT-1", "qty": 1, "gift_message": None}]}
    addresses = session.scalars(select(CustomerAddress).where(CustomerAddress.customer_id == ingrid.id)).all()
    assert [(a.line1, a.country, a.valid_from is not None) for a in addresses] == [(None, "DK", True)] * 2
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.erase")).one()
    assert entry.after["status"] == "erased"
    # the erased customer still exports (ids and history skeleton), and erasing again is a no-op
    assert service.export_customer(session, ingrid.id)["profile"]["status"] == "erased"
    again = service.erase_customer(session, customer_id=ingrid.id, actor=actor)
    assert again.status == "erased"
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.erase")).all()) == 1


def test_erasure_also_erases_merged_duplicates(session, actor, make_customer) -> None:
    a = make_customer(external_id="A", email="a@example.com")
    b = make_customer(external_id="B", email="old-a@example.com", first_name="Alias")
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    service.erase_customer(session, customer_id=a.id, actor=actor)
    dup = service.get_customer(session, b.id)
    assert (dup.status, dup.email, dup.first_name, dup.merged_into_id) == ("erased", None, None, a.id)
    assert service.resolve_customer_id(session, external_id="B") == b.id  # an erased tombstone resolves to itself


def test_360_view_with_sections(session, actor, ingrid) -> None:
    hooks.register_view_section("test_balance", _section)
    try:
        view = service.customer_360(session, ingrid.id, recent=2)
    finally:
        hooks.unregister("test_balance")
    assert view.profile.id == ingrid.id
    assert [a.line1 for a in view.addresses] == ["Other 1"]
    assert [c.channel for c in view.consents] == ["email"]
    assert [i.kind for i in view.recent] == ["call", "profile_change"]
    assert view.timeline_total == 5
    assert view.sections["test_balance"] == {"balance": 250, "customer": ingrid.id}  # other domains add theirs

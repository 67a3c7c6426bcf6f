"""Address and consent histories: nothing is overwritten, every change is visible on the timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import service
from loyalist.customers.models import CustomerAddress, CustomerConsent
from loyalist.customers.schemas import AddressIn, ConsentIn
from loyalist.errors import NotFound, ValidationFailed
from loyalist.interactions import service as timeline

T1 = datetime(2026, 1, 10, 8, tzinfo=UTC)
T2 = datetime(2026, 4, 2, 14, tzinfo=UTC)


def test_address_change_closes_old_version_and_lands_on_timeline(session, actor, make_customer) -> None:
    with clock.frozen_at(datetime(2025, 12, 1, tzinfo=UTC)):
        c = make_customer(external_id="A1", first_name="Mette")
    with clock.frozen_at(T1):
        first = service.set_address(session, customer_id=c.id, actor=actor,
                                    data=AddressIn(line1="Nørregade 1", postal_code="1165", city="København",
                                                   country="dk"))
    with clock.frozen_at(T2):
        second = service.set_address(session, customer_id=c.id, actor=actor,
                                     data=AddressIn(line1="Vestergade 9", postal_code="8000", city="Aarhus",
                                                    country="DK"))
    history = service.list_addresses(session, c.id)
    assert [(a.id, a.line1, a.valid_from, a.valid_to) for a in history] == [
        (second.id, "Vestergade 9", T2, None),
        (first.id, "Nørregade 1", T1, T2),
    ]
    assert [a.id for a in service.list_addresses(session, c.id, history=False)] == [second.id]
    changes = timeline.list_timeline(session, c.id, kinds=["profile_change"]).items
    assert [(i.summary, i.occurred_at) for i in changes] == [
        ("Address (home) changed", T2), ("Address (home) added", T1),
        ("Customer profile created", datetime(2025, 12, 1, tzinfo=UTC))]
    assert changes[0].data == {"event": "address_changed", "address_id": second.id,
                               "previous_address_id": first.id}
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(c.id))
                              .order_by(AuditEntry.id)).all()
    assert actions == ["customer.create", "customer.address_added", "customer.address_changed"]


def test_same_address_again_is_a_noop_and_labels_are_independent(session, actor, make_customer) -> None:
    c = make_customer(external_id="A2")
    home = service.set_address(session, customer_id=c.id, actor=actor, data=AddressIn(line1="A 1", country="DK"))
    again = service.set_address(session, customer_id=c.id, actor=actor, data=AddressIn(line1="A 1", country="dk"))
    assert again.id == home.id
    ship = service.set_address(session, customer_id=c.id, actor=actor,
                               data=AddressIn(label="shipping", line1="B 2", country="DK"))
    current = service.list_addresses(session, c.id, history=False)
    assert sorted((a.label, a.id) for a in current) == [("home", home.id), ("shipping", ship.id)]
    assert session.scalar(select(func.count(CustomerAddress.id)).where(CustomerAddress.customer_id == c.id)) == 2


def test_bad_address_writes_nothing(session, actor, make_customer) -> None:
    c = make_customer(external_id="A3")
    with pytest.raises(ValidationFailed) as err:
        service.set_address(session, customer_id=c.id, actor=actor, data=AddressIn(line1="x", country="XYZ"))
    assert err.value.field == "address.country"
    with pytest.raises(NotFound):
        service.set_address(session, customer_id=10**9, actor=actor, data=AddressIn(line1="x", country="DK"))
    assert session.scalar(select(func.count(CustomerAddress.id))) == 0


def test_consent_history_is_appended_and_current_is_latest(session, actor, make_customer) -> None:
    with clock.frozen_at(datetime(2025, 12, 1, tzinfo=UTC)):
        c = make_customer(external_id="C1",
                          consents=[ConsentIn(channel="email", granted=True, source="import")])
    with clock.frozen_at(T1):
        service.set_consent(session, customer_id=c.id, actor=actor,
                            data=ConsentIn(channel="sms", granted=True, source="portal"))
    with clock.frozen_at(T2):
        withdrawn = service.set_consent(session, customer_id=c.id, actor=actor,
                                        data=ConsentIn(channel="email", granted=False, source="staff",
                                                       note="asked by phone"))
    current = service.list_consents(session, c.id)
    assert [(x.channel, x.granted, x.source) for x in current] == [("email", False, "staff"), ("sms", True, "portal")]
    history = service.list_consents(session, c.id, history=True, channel="email")
    assert [(x.granted, x.source) for x in history] == [(False, "staff"), (True, "import")]
    assert history[0].id == withdrawn.id and history[0].actor == actor.label
    assert service.has_consent(session, c.id, "sms") is True
    assert service.has_consent(session, c.id, "email") is False
    assert service.has_consent(session, c.id, "push") is False
    rows = timeline.list_timeline(session, c.id, kinds=["consent_change"]).items
    assert [r.summary for r in rows] == ["Consent for email withdrawn", "Consent for sms granted",
                                         "Consent for email granted"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.consent")
                            .order_by(AuditEntry.id.desc())).first()
    assert (entry.before, entry.after) == ({"channel": "email", "granted": True},
                                           {"channel": "email", "granted": False, "source": "staff"})


def test_bad_consent_writes_nothing(session, actor, make_customer) -> None:
    c = make_customer(external_id="C2")
    n = session.scalar(select(func.count(CustomerConsent.id)))
    with pytest.raises(ValidationFailed) as err:
        service.set_consent(session, customer_id=c.id, actor=actor, data=ConsentIn(channel="carrier", granted=True))
    assert err.value.field == "consent.channel"
    assert session.scalar(select(func.count(CustomerConsent.id))) == n


def test_tags_and_values(session, actor, make_customer) -> None:
    c = make_customer(external_id="TV")
    assert service.add_tag(session, customer_id=c.id, tag=" Gold ", actor=actor) == ["gold"]
    assert service.add_tag(session, customer_id=c.id, tag="gold", actor=actor) == ["gold"]
    assert service.add_tag(session, customer_id=c.id, tag="b2b", actor=actor) == ["b2b", "gold"]
    assert service.remove_tag(session, customer_id=c.id, tag="gold", actor=actor) == ["b2b"]
    with pytest.raises(NotFound) as err:
        service.remove_tag(session, customer_id=c.id, tag="gold", actor=actor)
    assert err.value.field == "tag"
    updated = service.set_values(session, customer_id=c.id, values=["gifts", "recognition"], note="anniversaries",
                                 actor=actor)
    assert (updated.values, updated.values_note) == (["gifts", "recognition"], "anniversaries")
    with pytest.raises(ValidationFailed) as err:
        service.set_values(session, customer_id=c.id, values=["gifts", "free beer"], actor=actor)
    assert err.value.field == "values"
    assert service.get_customer(session, c.id).values == ["gifts", "recognition"]
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(c.id))
                              .order_by(AuditEntry.id)).all()
    assert actions == ["customer.create", "customer.tag_add", "customer.tag_add", "customer.tag_remove",
                       "customer.values"]

"""Offers: definitions, idempotent issuing, personalisation by values, codes, points, birthdays."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from tests.offers.conftest import buy, count_rows, make_customer, make_offer

from loyalist import clock
from loyalist.errors import IdempotencyConflict, InvalidState, LimitExceeded, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.offers import service
from loyalist.offers.models import IssuedOffer, Offer
from loyalist.offers.schemas import OfferCreate, OfferUpdate
from loyalist.tasks import service as tasks

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_invalid_definitions_name_the_field_and_write_nothing(session, actor):
    cases = [
        ({"reward_type": "percent"}, "discount_value"),
        ({"reward_type": "percent", "discount_value": Decimal("120")}, "discount_value"),
        ({"reward_type": "voucher"}, "reward_id"),
        ({"reward_type": "voucher", "reward_id": 999999}, "reward_id"),
        ({"reward_type": "points"}, "points"),
        ({"kind": "event_invitation"}, "event_at"),
        ({"capacity": 10}, "capacity"),
        ({"min_purchases": 3}, "purchase_window_days"),
        ({"valid_from": T0, "valid_until": T0}, "valid_until"),
        ({"segment_id": 999999}, "segment_id"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationFailed) as exc:
            make_offer(session, actor, **fields)
        assert exc.value.field == field, fields
    assert count_rows(session, Offer) == 0


def test_issue_is_idempotent_per_key_and_respects_limit(session, actor):
    cid = make_customer(session, actor)
    other = make_customer(session, actor)
    offer = make_offer(session, actor, reward_type="amount", discount_value=Decimal("5"))
    with clock.frozen_at(T0):
        first = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="k1")
        again = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="k1")
        assert again == first
        assert first.code is not None and first.code.startswith("OF") and len(first.code) == 12
        with pytest.raises(IdempotencyConflict):
            service.issue_offer(session, offer_id=offer.id, customer_id=other, actor=actor, issue_key="k1")
        with pytest.raises(LimitExceeded) as exc:
            service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="k2")
    assert exc.value.field == "customer_id"
    assert count_rows(session, IssuedOffer) == 1
    rows = [r for r in interactions.list_timeline(session, cid).items if r.kind == "offer"]
    assert len(rows) == 1 and rows[0].data["issue_id"] == first.id


def test_regulars_only(session, actor):
    regular = make_customer(session, actor)
    occasional = make_customer(session, actor)
    for day in (1, 8, 15):
        buy(session, regular, ["coffee"], at=datetime(2026, 2, day, tzinfo=UTC))
    buy(session, occasional, ["coffee"], at=datetime(2026, 2, 20, tzinfo=UTC))
    offer = make_offer(session, actor, kind="regulars_exclusive", min_purchases=3, purchase_window_days=90,
                       reward_type="percent", discount_value=Decimal("10"))
    with clock.frozen_at(T0):
        assert service.audience_ids(session, offer.id) == [regular]
        result = service.issue_to_audience(session, offer_id=offer.id, actor=actor)
        assert (result.eligible, result.issued, result.already) == (1, 1, 0)
        assert service.issue_to_audience(session, offer_id=offer.id, actor=actor).already == 1
        with pytest.raises(InvalidState) as exc:
            service.issue_offer(session, offer_id=offer.id, customer_id=occasional, actor=actor, issue_key="x")
    assert exc.value.field == "customer_id"
    assert count_rows(session, IssuedOffer) == 1


@pytest.mark.parametrize("values,reward,variant,headline", [
    (["personal_attention"], "percent", "personal_greeting", "Anna, a personal note from us"),
    (["greetings", "discounts"], "percent", "personal_greeting", "Anna, a personal note from us"),
    (["early_access"], "percent", "early_access", "Anna, you are first in line"),
    (["discounts"], "percent", "discount", "Anna, 15% off for you"),
    (["discounts"], "none", "standard", "Spring treat"),
    (["gifts"], "percent", "gift", "Anna, a gift for you"),
    (["convenience"], "percent", "convenience", "Anna, ready when you are"),
    ([], "percent", "standard", "Spring treat"),
])
def test_personalised_by_what_the_customer_values(session, actor, values, reward, variant, headline):
    cid = make_customer(session, actor, values=values)
    fields = {"reward_type": reward}
    if reward == "percent":
        fields["discount_value"] = Decimal("15")
    offer = make_offer(session, actor, **fields)
    issue = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="p")
    assert (issue.variant, issue.headline) == (variant, headline)
    greet = tasks.list_tasks(session, customer_id=cid).items
    if variant == "personal_greeting":
        assert [(t.kind, t.title, t.source_id) for t in greet] == [("greet", "Greet personally: Spring treat",
                                                                    str(issue.id))]
        assert issue.data == {"greet_task_id": greet[0].id}
    else:
        assert greet == []
    if reward == "percent":
        assert issue.body.endswith(f"Your code: {issue.code}.")
        assert "15% off" in issue.body


def test_percent_code_redeemed_once_with_cost(session, actor):
    cid = make_customer(session, actor)
    offer = make_offer(session, actor, reward_type="percent", discount_value=Decimal("10"),
                       max_discount=Decimal("12"))
    with clock.frozen_at(T0):
        issue = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="r")
        with pytest.raises(ValidationFailed) as exc:
            service.redeem_code(session, code=issue.code, actor=actor)
        assert exc.value.field == "order_amount"
        assert service.get_issue(session, issue.id).status == "issued"
        used = service.redeem_code(session, code=issue.code.lower(), actor=actor, order_amount=Decimal("150"),
                                   order_ref="till-9")
        # 10 % of 150 = 15, capped at 12
        assert (used.status, used.cost, used.order_ref) == ("redeemed", Decimal("12.00"), "till-9")
        with pytest.raises(InvalidState) as exc:
            service.redeem_code(session, code=issue.code, actor=actor, order_amount=Decimal("10"))
    assert exc.value.field == "code"
    after = service.get_issue(session, issue.id)
    assert (after.cost, after.order_ref) == (Decimal("12.00"), "till-9")


def test_expired_code_refused(session, actor):
    cid = make_customer(session, actor)
    offer = make_offer(session, actor, reward_type="amount", discount_value=Decimal("5"), code_validity_days=3)
    with clock.frozen_at(T0):
        issue = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="e")
    with clock.frozen_at(datetime(2026, 3, 6, tzinfo=UTC)):
        with pytest.raises(InvalidState):
            service.redeem_code(session, code=issue.code, actor=actor)
        assert service.expire_issues(session) == 1
    assert service.get_issue(session, issue.id).status == "expired"


def test_points_claimed_once(session, actor):
    cid = make_customer(session, actor)
    offer = make_offer(session, actor, reward_type="points", points=250)
    issue = service.issue_offer(session, offer_id=offer.id, customer_id=cid, actor=actor, issue_key="pts")
    assert issue.code is None
    claimed = service.claim(session, issue_id=issue.id, customer_id=cid, actor=actor)
    assert (claimed.status, claimed.cost) == ("redeemed", Decimal("2.50"))  # 250 x 0.01
    assert ledger.get_balance(session, cid).available == 250
    with pytest.raises(InvalidState):
        service.claim(session, issue_id=issue.id, customer_id=cid, actor=actor)
    assert ledger.get_balance(session, cid).available == 250


def test_birthday_pure_rules():
    assert service.birthday_in(date(2000, 2, 29), 2027) == date(2027, 2, 28)
    assert service.birthday_in(date(2000, 2, 29), 2028) == date(2028, 2, 29)
    assert service.birthday_due(date(1990, 1, 2), date(2026, 12, 28), 7) == 2027  # week crosses the new year
    assert service.birthday_due(date(1990, 1, 2), date(2027, 1, 2), 7) == 2027
    assert service.birthday_due(date(1990, 1, 2), date(2027, 1, 3), 7) is None
    assert service.birthday_due(date(1990, 1, 10), date(2027, 1, 2), 7) is None  # 8 days ahead


def test_birthday_offer_in_customer_timezone_once_per_year(session, actor):
    make_offer(session, actor, name="Birthday gift", kind="birthday", reward_type="amount",
               discount_value=Decimal("10"), lead_days=7)
    auckland = make_customer(session, actor, birthday=date(1985, 3, 10), timezone="Pacific/Auckland")
    la = make_customer(session, actor, birthday=date(1985, 3, 10), timezone="America/Los_Angeles")
    # 2026-03-02 12:00 UTC is 3 March 01:00 in Auckland (7 days before) but 2 March 04:00 in LA (8 days)
    with clock.frozen_at(T0):
        result = service.issue_birthday_offers(session)
        assert (result.issued, result.already) == (1, 0)
        assert service.issue_birthday_offers(session).already == 1
    issued = {o.issue.customer_id: o.issue for o in service.list_customer_offers(session, auckland)}
    assert issued[auckland].issue_key.endswith(f":{auckland}:2026")
    assert issued[auckland].data == {"birthday_year": 2026, "birthday_on": "2026-03-10"}
    assert service.list_customer_offers(session, la) == []
    with clock.frozen_at(datetime(2026, 3, 3, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 1  # LA's turn
    with clock.frozen_at(datetime(2027, 3, 5, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 2  # next year, again once each
    assert len(service.list_customer_offers(session, auckland)) == 2


def test_feb_29_birthday_on_feb_28_in_non_leap_years(session, actor):
    make_offer(session, actor, name="Birthday", kind="birthday", lead_days=0)
    leap = make_customer(session, actor, birthday=date(2000, 2, 29))
    with clock.frozen_at(datetime(2027, 2, 27, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 0
    with clock.frozen_at(datetime(2027, 2, 28, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 1
    with clock.frozen_at(datetime(2027, 3, 1, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 0
    with clock.frozen_at(datetime(2028, 2, 28, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 0  # 2028 is a leap year
    with clock.frozen_at(datetime(2028, 2, 29, 12, tzinfo=UTC)):
        assert service.issue_birthday_offers(session).issued == 1
    keys = sorted(o.issue.issue_key.rsplit(":", 1)[1] for o in service.list_customer_offers(session, leap))
    assert keys == ["2027", "2028"]


def test_update_and_create_validation(session, actor):
    offer = make_offer(session, actor)
    with pytest.raises(ValidationFailed) as exc:
        service.update_offer(session, offer_id=offer.id, data=OfferUpdate(valid_from=T0, valid_until=T0),
                             actor=actor)
    assert exc.value.field == "valid_until"
    assert service.get_offer(session, offer.id).valid_from is None
    with pytest.raises(ValidationFailed):
        service.create_offer(session, data=OfferCreate(name="x", kind="generic",
                                                       valid_from=datetime(2026, 1, 1)), actor=actor)


def test_segment_rule_audience(session, actor):
    from loyalist.customers import service as customers

    vip, other = make_customer(session, actor), make_customer(session, actor)
    customers.add_tag(session, customer_id=vip, tag="vip", actor=actor)
    with pytest.raises(ValidationFailed) as exc:
        make_offer(session, actor, rule={"field": "no_such_field", "op": "eq", "value": 1})
    assert exc.value.field == "rule"
    offer = make_offer(session, actor, rule={"field": "tag", "op": "eq", "value": "vip"})
    assert service.audience_ids(session, offer.id) == [vip]
    assert service.is_eligible(session, offer_id=offer.id, customer_id=other) is False
    result = service.issue_to_audience(session, offer_id=offer.id, actor=actor)
    assert (result.eligible, result.issued) == (1, 1)
    assert [o.issue.issue_key for o in service.list_customer_offers(session, vip)] == [f"audience:{offer.id}:{vip}"]
    assert service.list_customer_offers(session, other) == []

"""Date triggers: birthday on Feb 29 and across timezones, anniversary, holiday, inactivity,
points about to expire, churn risk crossing; each fires once and only once per instance."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from tests.automation.helpers import daily, make_automation, make_customer, runs

from loyalist import clock
from loyalist.automation import service
from loyalist.automation.schemas import HolidayCreate
from loyalist.customers import service as customers
from loyalist.ledger import service as ledger
from loyalist.purchases import service as purchases


def at(y, m, d, h=12) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=UTC)


@pytest.mark.parametrize("year, fires_on, not_on", [
    (2027, date(2027, 2, 28), date(2027, 3, 1)),   # common year: observed on 28 Feb
    (2028, date(2028, 2, 29), date(2028, 2, 28)),  # leap year: on the day itself, not the day before
])
def test_feb_29_birthday(session, actor, year, fires_on, not_on):
    leapling = make_customer(session, actor, birthday=date(2000, 2, 29), tz="UTC")
    feb28 = make_customer(session, actor, birthday=date(1990, 2, 28), tz="UTC", name="Bo")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0})
    daily(session, at(not_on.year, not_on.month, not_on.day))
    assert [r for r in runs(session, auto.id) if r[0] == leapling] == []
    daily(session, at(fires_on.year, fires_on.month, fires_on.day))
    assert [r for r in runs(session, auto.id) if r[0] == leapling] == [(leapling, f"birthday-{year}", "done")]
    # the 28 Feb birthday fired on 28 Feb (one of the two passes in both kinds of year), once
    assert [r for r in runs(session, auto.id) if r[0] == feb28] == [(feb28, f"birthday-{year}", "done")]
    # re-running the job (and the next day with catch-up) changes nothing for the leapling
    daily(session, at(fires_on.year, fires_on.month, fires_on.day, 20))
    assert len([r for r in runs(session, auto.id) if r[0] == leapling]) == 1
    assert customers.get_customer(session, leapling).tags == ["fired"]


def test_birthday_follows_the_customers_timezone(session, actor):
    auckland = make_customer(session, actor, birthday=date(1985, 3, 2), tz="Pacific/Auckland", name="Aroha")
    la = make_customer(session, actor, birthday=date(1985, 3, 2), tz="America/Los_Angeles", name="Lou")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0})
    # 2027-03-01 12:00 UTC is 2 March 01:00 in Auckland but 1 March 04:00 in Los Angeles
    daily(session, at(2027, 3, 1, 12))
    assert runs(session, auto.id) == [(auckland, "birthday-2027", "done")]
    # 2027-03-02 09:00 UTC is 2 March 01:00 in Los Angeles (and 3 March in Auckland)
    daily(session, at(2027, 3, 2, 9))
    assert runs(session, auto.id) == [(auckland, "birthday-2027", "done"), (la, "birthday-2027", "done")]
    # the same instant again, and a catch-up pass, fire nobody twice
    daily(session, at(2027, 3, 2, 9))
    assert len(runs(session, auto.id)) == 2


def test_birthday_catch_up_and_every_year(session, actor):
    cid = make_customer(session, actor, birthday=date(1970, 12, 31), tz="Europe/Copenhagen")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 2})
    # the worker was down on 31 Dec; on 1 Jan the catch-up still fires it, for the old year
    daily(session, at(2027, 1, 1, 9))
    assert runs(session, auto.id) == [(cid, "birthday-2026", "done")]
    daily(session, at(2027, 12, 31, 9))
    assert runs(session, auto.id) == [(cid, "birthday-2026", "done"), (cid, "birthday-2027", "done")]


def test_birthday_without_timezone_uses_business_zone(session, actor):
    # settings.timezone defaults to UTC: at 23:30 UTC on 4 May it is 4 May for the customer
    cid = make_customer(session, actor, birthday=date(1999, 5, 4))
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0})
    daily(session, datetime(2027, 5, 3, 23, 30, tzinfo=UTC))
    assert runs(session, auto.id) == []
    daily(session, datetime(2027, 5, 4, 23, 30, tzinfo=UTC))
    assert runs(session, auto.id) == [(cid, "birthday-2027", "done")]


def test_anniversary_of_joining(session, actor):
    cid = make_customer(session, actor, joined=datetime(2025, 6, 10, 22, 0, tzinfo=UTC), tz="Pacific/Auckland")
    auto = make_automation(session, actor, {"type": "anniversary", "catch_up_days": 0})
    # joined 11 June local time in Auckland; the first anniversary is 11 June 2026 there
    daily(session, at(2025, 6, 11, 0))  # the join day itself is not an anniversary
    daily(session, at(2026, 6, 10, 1))  # 10 June 13:00 in Auckland
    assert runs(session, auto.id) == []
    daily(session, at(2026, 6, 10, 13))  # 11 June 01:00 in Auckland
    assert runs(session, auto.id) == [(cid, "anniversary-2026", "done")]
    daily(session, at(2026, 6, 10, 14))
    assert len(runs(session, auto.id)) == 1


def test_holiday_from_the_calendar(session, actor):
    a = make_customer(session, actor, tz="UTC")
    b = make_customer(session, actor, tz="UTC", name="Bea")
    service.add_holiday(session, data=HolidayCreate(code="christmas", name="Christmas Eve", day=date(2026, 12, 24)),
                        actor=actor)
    auto = make_automation(session, actor, {"type": "holiday", "holiday": "christmas", "catch_up_days": 0})
    daily(session, at(2026, 12, 23))
    assert runs(session, auto.id) == []
    daily(session, at(2026, 12, 24))
    daily(session, at(2026, 12, 24, 18))
    assert runs(session, auto.id) == [(a, "holiday-christmas-2026-12-24", "done"),
                                      (b, "holiday-christmas-2026-12-24", "done")]


def test_inactivity_fires_once_per_silence(session, actor):
    cid = make_customer(session, actor)
    purchases.record_purchase(session, customer_id=cid, order_ref="o-1", occurred_at=at(2026, 1, 1),
                              currency="EUR", net_amount=Decimal("10.00"))
    auto = make_automation(session, actor, {"type": "inactivity", "days": 90})
    daily(session, at(2026, 3, 31))  # 89 days
    assert runs(session, auto.id) == []
    daily(session, at(2026, 4, 2))
    daily(session, at(2026, 5, 2))
    assert runs(session, auto.id) == [(cid, "inactive-2026-01-01", "done")]
    # a new purchase, then silence again: a new instance
    purchases.record_purchase(session, customer_id=cid, order_ref="o-2", occurred_at=at(2026, 5, 3),
                              currency="EUR", net_amount=Decimal("10.00"))
    daily(session, at(2026, 6, 1))
    assert len(runs(session, auto.id)) == 1
    daily(session, at(2026, 8, 2))
    assert runs(session, auto.id)[-1] == (cid, "inactive-2026-05-03", "done")


def test_points_about_to_expire(session, actor):
    cid = make_customer(session, actor)
    other = make_customer(session, actor, name="Cy")
    with clock.frozen_at(at(2026, 5, 1)):
        ledger.earn(session, customer_id=cid, points=120, source="test", idempotency_key="e1", reason="seed",
                    actor=actor, expires_at=at(2026, 7, 1))
        ledger.earn(session, customer_id=other, points=50, source="test", idempotency_key="e2", reason="seed",
                    actor=actor, expires_at=at(2026, 9, 1))
    auto = make_automation(session, actor, {"type": "points_expiring", "days": 30})
    daily(session, at(2026, 5, 30))
    assert runs(session, auto.id) == []
    daily(session, at(2026, 6, 5))
    daily(session, at(2026, 6, 6))
    assert runs(session, auto.id) == [(cid, "expiry-2026-07-01", "done")]
    run = service.list_runs(session, automation_id=auto.id).items[0]
    assert run.trigger_data == {"expiring_points": 120, "expires_at": "2026-07-01T12:00:00+00:00"}


def test_churn_risk_crossing(session, actor):
    from loyalist.scores.models import CustomerScore

    risky = make_customer(session, actor)
    stays = make_customer(session, actor, name="Di")
    calm = make_customer(session, actor, name="Ed")
    computed = at(2026, 6, 1)
    for cid, risk, prev in ((risky, 0.8, 0.4), (stays, 0.9, 0.85), (calm, 0.2, None)):
        session.add(CustomerScore(
            customer_id=cid, recency_days=10, purchase_days=3, last_purchase_on=computed - timedelta(days=10),
            rfm_r=1, rfm_f=1, rfm_m=1, rfm_score="111", rfm_segment="at_risk", p_alive=0.5, churn_risk=risk,
            previous_churn_risk=prev, churn_source="model", churn_reasons=[], expected_purchases_90d=0.1,
            predicted_clv=Decimal("1"), historical_clv=Decimal("1"), model="bgnbd", computed_at=computed))
    session.flush()
    auto = make_automation(session, actor, {"type": "churn_risk", "threshold": 0.7})
    daily(session, at(2026, 6, 1, 13))
    daily(session, at(2026, 6, 2, 13))
    assert runs(session, auto.id) == [(risky, "churn-2026-06-01", "done")]


def test_trigger_requirements_name_the_field(session, actor):
    from loyalist.errors import ValidationFailed

    for trigger, field in (({"type": "inactivity"}, "trigger.days"), ({"type": "holiday"}, "trigger.holiday"),
                           ({"type": "churn_risk"}, "trigger.threshold")):
        with pytest.raises(ValidationFailed) as err:
            make_automation(session, actor, trigger)
        assert err.value.field == field
    assert service.list_automations(session) == []


def test_anniversary_of_a_feb_29_join(session, actor):
    cid = make_customer(session, actor, joined=datetime(2024, 2, 29, 12, 0, tzinfo=UTC), tz="UTC")
    auto = make_automation(session, actor, {"type": "anniversary", "catch_up_days": 0},
                           at=datetime(2024, 3, 1, tzinfo=UTC))
    daily(session, at(2025, 2, 27))
    assert runs(session, auto.id) == []
    daily(session, at(2025, 2, 28))
    daily(session, at(2025, 3, 1))
    assert runs(session, auto.id) == [(cid, "anniversary-2025", "done")]
    assert service.list_runs(session, automation_id=auto.id).items[0].trigger_data == {
        "anniversary_on": "2025-02-28", "years": 1}

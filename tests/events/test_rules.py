"""Rule arithmetic: each kind, stacking, exclusivity, rounding, caps, budgets, dry-run."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from loyalist import clock
from loyalist.errors import IdempotencyConflict, ValidationFailed
from loyalist.events import service
from loyalist.events.models import EarningRule
from loyalist.events.schemas import EventIn, RuleCreate, RuleUpdate
from loyalist.ledger import service as ledger

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday


def purchase(cid: int, key: str, net: str | None = None, lines: list[dict] | None = None, **extra):
    body = {"type": "purchase", "idempotency_key": key, "customer_id": cid, "order_ref": f"O-{key}",
            "occurred_at": extra.pop("occurred_at", T0).isoformat(), "currency": "EUR", **extra}
    if lines is not None:
        body["lines"] = lines
    else:
        body["net_amount"] = net
    return body


LINES = [
    {"sku": "A", "category": "coffee", "quantity": 2, "unit_price": "10.00", "discount": "1.00"},  # 19.00
    {"sku": "B", "category": "tea", "quantity": 1, "unit_price": "26.99"},  # 26.99
]


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen_at(datetime(2026, 3, 4, 12, 0, tzinfo=UTC)):
        yield


def test_points_per_amount_floors_net_of_discounts(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    rule(kind="points_per_amount", params={"points": 1, "per_amount": "1"})
    result = ingest(**purchase(cid, "k1", lines=LINES))
    assert result.points == 45  # floor(45.99)
    [fired] = result.rules
    assert fired.fired and fired.arithmetic == "floor((19.00 + 26.99) EUR / 1) x 1 = 45"
    assert ledger.get_balance(session, cid).available == 45


def test_rounding_is_configurable(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    rule(kind="points_per_amount", params={"points": 2, "per_amount": "10", "rounding": "half_up"})
    assert ingest(**purchase(cid, "k1", net="45.00")).points == 10  # round(4.5) = 5, x2
    assert ingest(**purchase(cid, "k2", net="44.99")).points == 8


def test_stack_adds_and_multipliers_multiply_matching_lines(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    base = rule(kind="points_per_amount", priority=10)
    rule(kind="fixed_points", event_types=["purchase"], params={"points": 5}, priority=5)
    coffee = rule(kind="multiplier", params={"factor": "3"}, conditions={"categories": ["coffee"]})
    wednesday = rule(kind="multiplier", params={"factor": "2"}, conditions={"weekdays": ["wed"]})
    rule(kind="multiplier", params={"factor": "10"}, conditions={"stores": ["S9"]})
    result = ingest(**purchase(cid, "k1", lines=LINES, store="S1"))
    by_id = {r.rule_id: r for r in result.rules}
    # (19.00 x3 x2 + 26.99 x2) = 167.98 -> 167; fixed 5 x2 (wednesday, no line condition) = 10
    assert by_id[base.id].points == 167
    assert by_id[base.id].arithmetic == "floor((19.00x3x2 + 26.99x2) EUR / 1) x 1 = 167"
    assert by_id[coffee.id].fired and by_id[wednesday.id].fired
    store_rule = [r for r in result.rules if r.name.startswith("multiplier") and not r.fired][0]
    assert store_rule.reason == "store 'S1' not in ['S9']"
    assert result.points == 177
    assert ledger.get_balance(session, cid).available == 177


def test_exclusive_rule_stops_lower_priority_rules(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    high = rule(kind="fixed_points", event_types=["purchase"], params={"points": 100}, priority=50,
                stacking="exclusive", conditions={"stores": ["FLAGSHIP"]})
    low = rule(kind="points_per_amount", priority=1)
    first = ingest(**purchase(cid, "k1", net="30", store="FLAGSHIP"))
    assert first.points == 100
    assert {r.rule_id: (r.fired, r.reason) for r in first.rules} == {
        high.id: (True, None), low.id: (False, f"stopped by exclusive rule {high.id} ({high.name})")}
    # Not matching -> it does not stop anyone.
    assert ingest(**purchase(cid, "k2", net="30", store="OTHER")).points == 30


def test_fixed_points_for_custom_event_type_only_through_rules(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    assert ingest(type="app.checkin", idempotency_key="c1", customer_id=cid).points == 0
    rule(kind="fixed_points", event_types=["app.checkin", "review"], params={"points": 7})
    assert ingest(type="app.checkin", idempotency_key="c2", customer_id=cid).points == 7
    assert ingest(type="review", idempotency_key="r1", customer_id=cid, data={"rating": 5}).points == 7
    assert ledger.get_balance(session, cid).available == 14


def test_daily_cap_uses_business_timezone_midnight(session, make_customer, rule, ingest) -> None:
    """Copenhagen is UTC+1 in March: 22:30Z is 23:30 local (day 1), 23:30Z is 00:30 local (day 2)."""
    cid = make_customer()
    rule(kind="points_per_amount", cap_per_day=50, cap_per_month=120)
    with clock.frozen_at(datetime(2026, 3, 10, tzinfo=UTC)):
        _caps(session, cid, ingest)


def _caps(session, cid, ingest) -> None:
    day1_a = ingest(**purchase(cid, "a", net="40", occurred_at=datetime(2026, 3, 4, 20, 0, tzinfo=UTC)))
    day1_b = ingest(**purchase(cid, "b", net="40", occurred_at=datetime(2026, 3, 4, 22, 30, tzinfo=UTC)))
    day2 = ingest(**purchase(cid, "c", net="40", occurred_at=datetime(2026, 3, 4, 23, 30, tzinfo=UTC)))
    day3 = ingest(**purchase(cid, "d", net="60", occurred_at=datetime(2026, 3, 6, 9, 0, tzinfo=UTC)))
    assert [day1_a.points, day1_b.points, day2.points, day3.points] == [40, 10, 40, 30]
    assert "capped to 10 by cap_per_day 50 (used 40 on 2026-03-04)" in day1_b.rules[0].arithmetic
    assert "cap_per_month 120 (used 90 in 2026-03)" in day3.rules[0].arithmetic
    assert ledger.get_balance(session, cid).available == 120


def test_budget_stops_when_exhausted(session, make_customer, rule, ingest) -> None:
    a, b = make_customer(), make_customer()
    r = rule(kind="fixed_points", event_types=["promotion"], params={"points": 40}, budget_total=100)
    got = [ingest(type="promotion", idempotency_key=f"p{i}", customer_id=c).points
           for i, c in enumerate([a, b, a, b])]
    assert got == [40, 40, 20, 0]
    assert session.scalar(select(EarningRule.budget_used).where(EarningRule.id == r.id)) == 100
    last = ingest(type="promotion", idempotency_key="p9", customer_id=a)
    assert last.rules[0].fired is False and "budget" in last.rules[0].reason


def test_dry_run_writes_nothing_and_explains(session, make_customer, rule, actor, settings, row_counts) -> None:
    cid = make_customer()
    rule(kind="points_per_amount", budget_total=1000)
    rule(kind="fixed_points", event_types=["review"], params={"points": 3})
    before = row_counts()
    result = service.dry_run(session, data=EventIn.model_validate(purchase(cid, "k1", net="12.50")), actor=actor,
                             settings=settings)
    assert (result.dry_run, result.points, result.event_id) == (True, 12, None)
    assert [(r.fired, r.reason) for r in result.rules] == [
        (True, None), (False, "event type 'purchase' not in ['review']")]
    assert row_counts() == before
    assert session.scalar(select(EarningRule.budget_used).where(EarningRule.budget_total == 1000)) == 0


def test_replay_returns_original_and_conflict_changes_nothing(session, make_customer, rule, ingest,
                                                              row_counts) -> None:
    cid = make_customer()
    rule(kind="points_per_amount")
    first = ingest(**purchase(cid, "k1", net="10"))
    rule(kind="fixed_points", event_types=["purchase"], params={"points": 99})  # must not change a replay
    before = row_counts()
    again = ingest(**purchase(cid, "k1", net="10"))
    assert again.replayed and again.points == first.points == 10 and again.event_id == first.event_id
    with pytest.raises(IdempotencyConflict) as err:
        ingest(**purchase(cid, "k1", net="11"))
    assert err.value.field == "idempotency_key"
    assert row_counts() == before
    assert ledger.get_balance(session, cid).available == 10


def test_partial_return_claws_back_exact_points(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    rule(kind="points_per_amount", params={"points": 3})
    bought = ingest(**purchase(cid, "p1", lines=LINES))  # 45 x 3 = 135 on 45.99
    assert bought.points == 135
    # one coffee unit back: 19.00 / 2 = 9.50 of 45.99 -> floor(135 * 9.50 / 45.99) = 27
    ret = ingest(type="return", idempotency_key="r1", customer_id=cid, order_ref="O-p1",
                 lines=[{"sku": "A", "quantity": 1}])
    assert ret.clawed_back == 27
    assert ledger.get_balance(session, cid).available == 108
    # the rest: everything left must come back, exactly 135 in total
    rest = ingest(type="refund", idempotency_key="r2", customer_id=cid, order_ref="O-p1")
    assert rest.clawed_back == 108
    assert ledger.get_balance(session, cid).available == 0
    with pytest.raises(ValidationFailed) as err:
        ingest(type="return", idempotency_key="r3", customer_id=cid, order_ref="O-p1", amount="1")
    assert err.value.field == "amount"


def test_referral_bonus_both_sides(session, make_customer, rule, ingest) -> None:
    referrer, referred = make_customer(), make_customer("new-friend")
    rule(kind="referral_bonus", params={"referrer_points": 500, "referred_points": 200})
    result = ingest(type="referral", idempotency_key="ref1", customer_id=referrer,
                    referred={"external_id": "new-friend"})
    assert result.points == 500
    assert sorted((a.customer_id, a.points) for a in result.awards) == sorted([(referrer, 500), (referred, 200)])
    assert ledger.get_balance(session, referrer).available == 500
    assert ledger.get_balance(session, referred).available == 200
    with pytest.raises(ValidationFailed) as err:
        ingest(type="referral", idempotency_key="ref2", customer_id=referrer, referred={"customer_id": referrer})
    assert err.value.field == "referred"


def test_birthday_bonus_once_a_year(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    rule(kind="birthday_bonus", params={"points": 250})
    assert ingest(type="birthday", idempotency_key="b2026", customer_id=cid).points == 250
    second = ingest(type="birthday", idempotency_key="b2026-again", customer_id=cid)
    assert second.points == 0 and second.rules[0].reason == "birthday bonus already paid in 2026"
    with clock.frozen_at(datetime(2027, 3, 4, tzinfo=UTC)):
        assert ingest(type="birthday", idempotency_key="b2027", customer_id=cid,
                      occurred_at=datetime(2027, 3, 4, tzinfo=UTC).isoformat()).points == 250


def test_pending_period_and_expiry_apply_to_the_lot(session, make_customer, rule, ingest) -> None:
    cid = make_customer()
    rule(kind="points_per_amount", pending_days=14, expiry_months=12)
    ingest(**purchase(cid, "k1", net="20", occurred_at=datetime(2026, 3, 4, 11, 0, tzinfo=UTC)))
    balance = ledger.get_balance(session, cid)
    assert (balance.available, balance.pending) == (0, 20)
    [lot] = ledger.list_lots(session, cid)
    assert lot.available_at == datetime(2026, 3, 18, 11, 0, tzinfo=UTC)
    assert lot.expires_at == datetime(2027, 3, 18, 11, 0, tzinfo=UTC)


def test_rule_validation_names_the_field(session, actor) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RuleCreate.model_validate({"name": "x", "kind": "multiplier", "params": {"factr": 2}})
    with pytest.raises(ValidationError):
        RuleCreate.model_validate({"name": "x", "kind": "fixed_points", "params": {"points": 1}})  # no types
    created = service.create_rule(session, data=RuleCreate(name="x", kind="points_per_amount"), actor=actor)
    with pytest.raises(ValidationFailed) as err:
        service.update_rule(session, rule_id=created.id, data=RuleUpdate(params={"per_amount": "-1"}), actor=actor)
    assert err.value.field == "params.per_amount"
    assert service.get_rule(session, created.id).params == {"points": 1, "per_amount": "1", "rounding": "floor"}


def test_tier_multiplier_applies_after_immediate_upgrade(session, make_customer, rule, ingest, actor) -> None:
    from loyalist.tiers import service as tiers
    from loyalist.tiers.schemas import TierCreate

    tiers.create_tier(session, data=TierCreate(code="gold", name="Gold", rank=1, metric="spend", window_days=365,
                                               threshold=Decimal("50"), multiplier=Decimal("1.5")), actor=actor)
    cid = make_customer()
    rule(kind="points_per_amount")
    rule(kind="multiplier", params={"use_tier_multiplier": True}, conditions={"tiers": ["gold"]})
    first = ingest(**purchase(cid, "k1", net="60"))
    assert first.points == 60
    assert first.rules[1].reason == "tier None not in ['gold']"
    assert tiers.current_tier(session, cid).code == "gold"  # upgraded at once by the purchase
    second = ingest(**purchase(cid, "k2", net="10"))
    assert second.points == 15
    assert second.rules[0].arithmetic == "floor((10.00x1.5) EUR / 1) x 1 = 15"


def test_parquet_import(session, make_customer, rule, actor, settings, tmp_path) -> None:
    import pandas as pd

    from loyalist.events import bulk

    rule(kind="points_per_amount")
    pd.DataFrame({
        "event_type": ["purchase", "purchase"], "idempotency_key": ["pq1", "pq1"],
        "customer_external_id": ["pq-cust", "pq-cust"],
        "occurred_at": pd.to_datetime(["2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"], utc=True),
        "order_ref": ["PQ-1", "PQ-1"], "currency": ["EUR", "EUR"], "sku": ["A", "B"],
        "quantity": [2, 1], "unit_price": ["5.00", "7.25"],
    }).to_parquet(tmp_path / "e.parquet")
    columns, first = bulk.read_file(tmp_path / "e.parquet")
    report = bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    assert (report.rows, report.events, report.created, report.points) == (2, 1, 1, 17)


def test_plain_evaluation_equals_the_model_evaluation() -> None:
    """`engine.evaluate_plain` (bulk import) and `engine.evaluate` (API, dry-run) give the same
    awards and the same outcomes, field for field and in `RuleOutcome`'s key order."""
    from datetime import UTC, date, datetime
    from decimal import Decimal
    from types import SimpleNamespace

    from loyalist.events import engine

    def spec(id_: int, name: str, kind: str, **kw):
        row = dict(id=id_, name=name, kind=kind, event_types=kw.pop("event_types", ["purchase"]),
                   priority=kw.pop("priority", 100), stacking=kw.pop("stacking", "stack"), active=True,
                   starts_at=None, ends_at=None, conditions=kw.pop("conditions", {}), params=kw.pop("params", {}),
                   cap_per_day=kw.pop("cap_per_day", None), cap_per_month=None, budget_total=None,
                   pending_days=0, expiry_months=None)
        return engine.RuleSpec.from_row(SimpleNamespace(**row))

    rules = [
        spec(1, "1/EUR", "points_per_amount", cap_per_day=30),
        spec(2, "beans x2", "multiplier", params={"factor": "2"}, conditions={"categories": ["beans"]}),
        spec(3, "tier", "multiplier", priority=50, params={"use_tier_multiplier": True}),
        spec(4, "review", "fixed_points", event_types=["review"], params={"points": 25}),
        spec(5, "store only", "fixed_points", params={"points": 5}, conditions={"stores": ["S9"]}),
        spec(6, "big", "points_per_amount", priority=10, stacking="exclusive",
             conditions={"min_amount": "100"}),
    ]

    class NoUsage:
        def day_total(self, rule_id, customer_id, day):
            return 7

        def month_total(self, rule_id, customer_id, month):
            return 0

        def year_count(self, rule_id, customer_id, year):
            return 0

        def budget_used(self, rule_id):
            return 0

    lines = [engine.Line(sku="A", category="beans", net=Decimal("19.0000")),
             engine.Line(sku="B", category="tea", net=Decimal("0.1250"))]
    for facts in (
        engine.Facts(type="purchase", customer_id=1, occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
                     local_day=date(2026, 1, 5), currency="EUR", net_amount=Decimal("19.125"), lines=lines,
                     store="S1", tier_code="gold", tier_multiplier=Decimal("1.5")),
        engine.Facts(type="review", customer_id=2, occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
                     local_day=date(2026, 1, 5)),
    ):
        awards, models = engine.evaluate(list(reversed(rules)), facts, NoUsage())
        plain_awards, plain = engine.evaluate_plain(engine.order_rules(rules), facts, NoUsage())
        assert plain_awards == awards
        assert plain == [m.model_dump() for m in models]
        assert [list(p) for p in plain] == [list(m.model_dump()) for m in models]
    assert any(p["fired"] for p in plain) and any(p["reason"] for p in plain)


def test_memoised_money_text_keeps_the_sign_of_zero() -> None:
    """0 and -0 are equal dict keys; the memoised formatters must still print each as before."""
    from decimal import Decimal

    from loyalist.events import bulk, engine

    assert [engine._money(Decimal(v)) for v in ("0.0000", "-0.0000", "0", "19.0000", "19.00", "0.1250")] == \
        ["0.00", "-0.00", "0.00", "19.00", "19.00", "0.125"]
    assert [bulk._money_text(Decimal(v)) for v in ("0", "-0", "0.0000", "9.5", "9.50")] == \
        ["0.0000", "-0.0000", "0.0000", "9.5000", "9.5000"]

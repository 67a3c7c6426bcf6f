"""Tiers: upgrade at once, downgrade only after grace at re-evaluation, progress, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from sqlalchemy import func, select

from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.errors import Conflict, NotFound
from loyalist.interactions import service as timeline
from loyalist.purchases import service as purchases
from loyalist.tiers import service
from loyalist.tiers.models import CustomerTier, TierDefinition, TierHistory
from loyalist.tiers.schemas import TierCreate, TierUpdate

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
_refs = count(1)


def _tier(session, actor, code, rank, threshold, *, window=365, grace=30, multiplier="1", metric="spend"):
    return service.create_tier(session, data=TierCreate(
        code=code, name=code.title(), rank=rank, metric=metric, window_days=window,
        threshold=Decimal(threshold), multiplier=Decimal(multiplier), grace_days=grace,
        benefits=[f"{code} perk"]), actor=actor)


@pytest.fixture
def ladder(session, actor):
    """silver: 100 spend/365 d, gold: 500 spend/365 d, both 30 days grace."""
    return (_tier(session, actor, "silver", 1, "100", multiplier="1.25"),
            _tier(session, actor, "gold", 2, "500", multiplier="1.5"))


def _customer(session, actor) -> int:
    return customers.create_customer(session, data=CustomerCreate(first_name="Tia"), actor=actor).id


def _buy(session, customer_id, amount, at) -> None:
    purchases.record_purchase(session, customer_id=customer_id, order_ref=f"T-{next(_refs)}", occurred_at=at,
                              currency="EUR", net_amount=Decimal(amount))


def _code(session, customer_id):
    status = service.current_tier(session, customer_id)
    return status.code if status else None


def test_upgrade_at_once_and_recorded_everywhere(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "150", T0)
    change = service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    assert (change.reason, change.from_code, change.to_code, change.metric_value) == (
        "upgrade", None, "silver", Decimal("150"))
    status = service.current_tier(session, cid)
    assert (status.code, status.rank, status.multiplier, status.grace_until) == ("silver", 1, Decimal("1.25"), None)
    assert status.since == T0 + timedelta(hours=1)

    _buy(session, cid, "400", T0 + timedelta(days=1))
    change = service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(days=1, hours=1))
    assert (change.from_code, change.to_code) == ("silver", "gold")
    assert _code(session, cid) == "gold"
    assert [(c.reason, c.from_code, c.to_code) for c in service.history(session, cid)] == [
        ("upgrade", "silver", "gold"), ("upgrade", None, "silver")]
    rows = timeline.list_timeline(session, cid, kinds=["tier_change"]).items
    assert len(rows) == 2
    assert session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "tier.upgrade", AuditEntry.target_id == str(cid))) == 2
    # Nothing new to do: no extra history.
    assert service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(days=2)) is None
    assert len(service.history(session, cid)) == 2


def test_customer_below_every_threshold_gets_no_status(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "99.99", T0)
    assert service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1)) is None
    assert service.current_tier(session, cid) is None
    assert session.get(CustomerTier, cid) is None


def test_evaluate_never_downgrades(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "600", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    later = T0 + timedelta(days=400)  # the purchase has left the window
    assert service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=later) is None
    status = service.current_tier(session, cid)
    assert (status.code, status.grace_until) == ("gold", None)


def test_downgrade_only_after_grace_at_reevaluation(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "600", T0)
    _buy(session, cid, "150", T0 + timedelta(days=200))
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    as_of = T0 + timedelta(days=400)  # window holds only the 150

    first = service.reevaluate_all(session, as_of=as_of, actor=actor)
    assert (first.evaluated, first.grace_started, first.downgraded) == (1, 1, 0)
    status = service.current_tier(session, cid)
    assert (status.code, status.grace_until) == ("gold", as_of + timedelta(days=30))

    mid = service.reevaluate_all(session, as_of=as_of + timedelta(days=29), actor=actor)
    assert (mid.grace_started, mid.downgraded) == (0, 0)
    assert _code(session, cid) == "gold"

    last = service.reevaluate_all(session, as_of=as_of + timedelta(days=30), actor=actor)
    assert last.downgraded == 1
    status = service.current_tier(session, cid)
    assert (status.code, status.grace_until, status.since) == ("silver", None, as_of + timedelta(days=30))
    assert [(c.reason, c.from_code, c.to_code) for c in service.history(session, cid)] == [
        ("downgrade", "gold", "silver"), ("grace_started", "gold", "gold"), ("upgrade", None, "gold")]
    # Re-running at the same instant changes nothing.
    again = service.reevaluate_all(session, as_of=as_of + timedelta(days=30), actor=actor)
    assert (again.upgraded, again.downgraded, again.grace_started, again.grace_cleared) == (0, 0, 0, 0)


def test_downgrade_to_no_tier(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "150", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    as_of = T0 + timedelta(days=366)
    service.reevaluate_all(session, as_of=as_of, actor=actor)
    service.reevaluate_all(session, as_of=as_of + timedelta(days=30), actor=actor)
    assert service.current_tier(session, cid) is None
    assert service.history(session, cid)[0].to_code is None


def test_recovery_during_grace_clears_it(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "600", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    as_of = T0 + timedelta(days=400)
    service.reevaluate_all(session, as_of=as_of, actor=actor)
    assert service.current_tier(session, cid).grace_until is not None

    _buy(session, cid, "500", as_of + timedelta(days=5))
    change = service.evaluate_customer(session, customer_id=cid, actor=actor,
                                       as_of=as_of + timedelta(days=5, hours=1))
    assert (change.reason, change.from_code, change.to_code) == ("grace_cleared", "gold", "gold")
    assert service.current_tier(session, cid).grace_until is None
    after = service.reevaluate_all(session, as_of=as_of + timedelta(days=31), actor=actor)
    assert (after.downgraded, after.grace_started) == (0, 0)
    assert _code(session, cid) == "gold"


def test_zero_grace_downgrades_at_the_reevaluation(session, actor) -> None:
    _tier(session, actor, "club", 1, "100", grace=0)
    cid = _customer(session, actor)
    _buy(session, cid, "100", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    result = service.reevaluate_all(session, as_of=T0 + timedelta(days=366), actor=actor)
    assert (result.grace_started, result.downgraded) == (0, 1)
    assert service.current_tier(session, cid) is None


def test_reevaluation_also_upgrades_customers_without_status(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    _buy(session, cid, "600", T0)
    session.add(CustomerTier(customer_id=cid, tier_id=None, since=T0, evaluated_at=T0))
    session.flush()
    result = service.reevaluate_all(session, as_of=T0 + timedelta(days=1), actor=actor)
    assert result.upgraded == 1
    assert _code(session, cid) == "gold"


def test_rolling_window_boundaries(session, actor) -> None:
    """Window is [as_of - window_days, as_of): a purchase exactly window_days ago still counts,
    one microsecond earlier it does not; a purchase at as_of itself is not yet in."""
    _tier(session, actor, "club", 1, "100", window=30)
    inside, outside, future = (_customer(session, actor) for _ in range(3))
    as_of = T0 + timedelta(days=30)
    _buy(session, inside, "100", T0)
    _buy(session, outside, "100", T0 - timedelta(microseconds=1))
    _buy(session, future, "100", as_of)
    for cid in (inside, outside, future):
        service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=as_of)
    assert [_code(session, c) for c in (inside, outside, future)] == ["club", None, None]


def test_progress_arithmetic(session, actor, ladder) -> None:
    cid = _customer(session, actor)
    as_of = T0 + timedelta(days=1)
    p = service.progress(session, cid, as_of=as_of)
    assert (p.current_code, p.next_code, p.value, p.next_threshold, p.remaining, p.percent) == (
        None, "silver", Decimal("0"), Decimal("100"), Decimal("100"), Decimal("0.0"))
    _buy(session, cid, "150", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=as_of)
    p = service.progress(session, cid, as_of=as_of)
    assert (p.current_code, p.next_code, p.metric, p.window_days) == ("silver", "gold", "spend", 365)
    assert (p.value, p.next_threshold, p.remaining, p.percent) == (
        Decimal("150"), Decimal("500"), Decimal("350"), Decimal("30.0"))
    _buy(session, cid, "16.67", T0)  # 166.67 / 500 = 33.334 %
    assert service.progress(session, cid, as_of=as_of).percent == Decimal("33.3")
    _buy(session, cid, "400", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=as_of)
    p = service.progress(session, cid, as_of=as_of)
    assert (p.current_code, p.next_code, p.remaining, p.percent) == ("gold", None, Decimal("0"), Decimal("100.0"))


def test_retired_tier_holders_move_down_after_grace(session, actor, ladder) -> None:
    silver, gold = ladder
    cid = _customer(session, actor)
    _buy(session, cid, "600", T0)
    service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    service.deactivate_tier(session, tier_id=gold.id, actor=actor)
    as_of = T0 + timedelta(days=2)
    assert service.reevaluate_all(session, as_of=as_of, actor=actor).grace_started == 1
    service.reevaluate_all(session, as_of=as_of + timedelta(days=30), actor=actor)
    assert _code(session, cid) == "silver"


def test_definition_conflicts_name_the_field_and_change_nothing(session, actor, ladder) -> None:
    silver, _gold = ladder
    with pytest.raises(Conflict) as err:
        _tier(session, actor, "silver", 7, "1")
    assert err.value.field == "code"
    with pytest.raises(Conflict) as err:
        _tier(session, actor, "bronze", 1, "1")
    assert err.value.field == "rank"
    with pytest.raises(Conflict) as err:
        service.update_tier(session, tier_id=silver.id, data=TierUpdate(rank=2), actor=actor)
    assert err.value.field == "rank"
    assert session.scalar(select(func.count()).select_from(TierDefinition)) == 2
    assert service.get_tier(session, silver.id).rank == 1
    with pytest.raises(NotFound) as err:
        service.get_tier(session, 999999)
    assert err.value.field == "tier_id"


def test_update_is_audited(session, actor, ladder) -> None:
    silver, _ = ladder
    updated = service.update_tier(session, tier_id=silver.id, data=TierUpdate(threshold=Decimal("120")), actor=actor)
    assert updated.threshold == Decimal("120")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "tier.update"))
    assert (entry.before["threshold"], entry.after["threshold"]) == ("100.0000", "120.0000")


def test_merge_keeps_the_better_tier_and_all_history(session, actor, ladder) -> None:
    a, b = _customer(session, actor), _customer(session, actor)
    _buy(session, a, "150", T0)
    _buy(session, b, "600", T0)
    for cid in (a, b):
        service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    service._merge_handler(session, survivor_id=a, duplicate_id=b, actor=actor)
    assert _code(session, a) == "gold"
    assert session.get(CustomerTier, b) is None
    assert session.scalar(select(func.count()).select_from(TierHistory).where(TierHistory.customer_id == b)) == 0
    assert [(c.reason, c.to_code) for c in service.history(session, a)][0] == ("merge", "gold")
    assert len(service.history(session, a)) == 3


def test_points_metric_uses_earned_points_only(session, actor) -> None:
    from loyalist.ledger import service as ledger

    _tier(session, actor, "club", 1, "1000", metric="points", window=90)
    cid = _customer(session, actor)
    ledger.earn(session, customer_id=cid, points=800, source="test", idempotency_key="e1", reason="purchase",
                actor=actor, occurred_at=T0)
    ledger.earn(session, customer_id=cid, points=500, source="test", idempotency_key="b1", reason="welcome",
                actor=actor, occurred_at=T0, kind="bonus")
    assert service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(days=1)) is None
    assert service.progress(session, cid, as_of=T0 + timedelta(days=1)).remaining == Decimal("200")
    ledger.earn(session, customer_id=cid, points=200, source="test", idempotency_key="e2", reason="purchase",
                actor=actor, occurred_at=T0 + timedelta(days=2))
    change = service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(days=3))
    assert (change.to_code, change.metric_value) == ("club", Decimal("1000"))


def test_reevaluation_metric_lookups_do_not_grow_with_customers(session, actor, ladder) -> None:
    """Definitions and statuses are read once per run; each extra customer adds exactly one
    SELECT (the spend look-up; silver and gold share a window) and no write when unchanged."""
    from sqlalchemy import event

    def run(n_new: int) -> tuple[int, int]:
        for _ in range(n_new):
            cid = _customer(session, actor)
            _buy(session, cid, "150", T0)
            service.evaluate_customer(session, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
        session.flush()
        statements: list[str] = []

        def _count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            statements.append(statement.lstrip().upper())

        bind = session.connection()
        event.listen(bind, "before_cursor_execute", _count)
        try:
            result = service.reevaluate_all(session, as_of=T0 + timedelta(days=2), actor=actor)
        finally:
            event.remove(bind, "before_cursor_execute", _count)
        assert (result.upgraded, result.downgraded, result.grace_started) == (0, 0, 0)
        selects = sum(1 for st in statements if st.startswith("SELECT"))
        writes = sum(1 for st in statements if st.startswith(("INSERT", "UPDATE")))
        return selects, writes

    selects_3, writes_3 = run(3)
    selects_6, writes_6 = run(3)
    assert selects_6 == selects_3  # one set-based query per metric, however many customers
    assert writes_6 - writes_3 <= 1  # evaluated_at/metric_value go out as one batched UPDATE


def test_evaluate_customers_in_bulk(session, actor, ladder) -> None:
    a, b, c = (_customer(session, actor) for _ in range(3))
    _buy(session, a, "150", T0)
    _buy(session, b, "600", T0)
    changes = service.evaluate_customers(session, customer_ids=[b, a, c, a], actor=actor,
                                         as_of=T0 + timedelta(hours=1))
    assert [(ch.customer_id, ch.to_code) for ch in changes] == [(a, "silver"), (b, "gold")]
    assert [_code(session, x) for x in (a, b, c)] == ["silver", "gold", None]


def test_reevaluate_job_is_the_service(session, actor, ladder) -> None:
    from loyalist.tiers.jobs import JOBS

    cid = _customer(session, actor)
    _buy(session, cid, "150", T0)
    result = JOBS["tiers.reevaluate"](session, as_of=T0 + timedelta(days=1), actor=actor)
    assert (result.evaluated, result.upgraded) == (1, 1)
    assert _code(session, cid) == "silver"


def test_bulk_metrics_equal_the_per_customer_ones(session, actor, ladder) -> None:
    from loyalist.ledger import service as ledger
    from loyalist.purchases import service as purchases

    ids = [_customer(session, actor) for _ in range(4)]
    for n, cid in enumerate(ids[:3]):
        for k in range(n + 1):
            _buy(session, cid, f"{40 + 10 * k}", T0 + timedelta(days=k))
            ledger.earn(session, customer_id=cid, points=40 + 10 * k, source="test", idempotency_key=f"b{cid}-{k}",
                        reason="purchase", actor=actor, occurred_at=T0 + timedelta(days=k))
    ledger.earn(session, customer_id=ids[0], points=999, source="test", idempotency_key="bonus", kind="bonus",
                reason="not qualifying activity", actor=actor, occurred_at=T0)
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=10)
    points = ledger.points_earned_by_customer(session, since=since, until=until, customer_ids=ids)
    spend = purchases.spend_by_customer(session, since=since, until=until, customer_ids=ids)
    for cid in ids:
        assert points.get(cid, 0) == ledger.points_earned_in_window(session, cid, since=since, until=until)
        assert spend.get(cid, Decimal("0.00")) == purchases.spend_in_window(session, cid, since=since, until=until)
    assert ids[3] not in points and ids[3] not in spend and len(spend) == 3
    assert points == {ids[0]: 40, ids[1]: 90, ids[2]: 150}


def _tier_trail(session, cid):
    """Everything a tier change leaves for one customer, without ids (compared across paths)."""
    from loyalist.interactions.models import Interaction

    status = session.get(CustomerTier, cid, populate_existing=True)
    hist = session.scalars(select(TierHistory).where(TierHistory.customer_id == cid)).all()
    audits = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "customer",
                                                      AuditEntry.target_id == str(cid))).all()
    rows = session.scalars(select(Interaction).where(Interaction.customer_id == cid,
                                                     Interaction.kind == "tier_change")).all()
    assert [r.source_id for r in rows] == [str(h.id) for h in hist]
    return (
        (status.tier_id, status.since, status.grace_until, status.metric_value, status.evaluated_at),
        [(h.from_tier_id, h.to_tier_id, h.reason, h.metric_value, h.grace_until, h.at, h.actor) for h in hist],
        [(a.actor_kind, a.actor_name, a.action, a.target_type, a.before, a.after) for a in audits],
        [(r.kind, r.channel, r.direction, r.summary, r.occurred_at, r.actor,
          {k: v for k, v in r.data.items() if k not in ("id", "customer_id")}) for r in rows],
    )


def test_first_upgrades_equal_single_path(session, actor, ladder) -> None:
    """Given customers without a status row, `evaluate_customers` (set-based first upgrades) leaves
    per customer exactly what `evaluate_customer` leaves; one with a status row takes the single path."""
    as_of = T0 + timedelta(hours=1)
    single, bulk_a, bulk_b, below, held = (_customer(session, actor) for _ in range(5))
    for cid, amount in ((single, "150"), (bulk_a, "150"), (bulk_b, "650"), (below, "20"), (held, "700")):
        _buy(session, cid, amount, T0)
    service.evaluate_customer(session, customer_id=held, actor=actor, as_of=as_of)  # gold at once
    _buy(session, held, "1", T0)

    service.evaluate_customer(session, customer_id=single, actor=actor, as_of=as_of)
    changes = service.evaluate_customers(session, customer_ids=[bulk_b, below, bulk_a, held], actor=actor, as_of=as_of)

    assert [(c.customer_id, c.from_code, c.to_code, c.metric_value) for c in changes] == [
        (bulk_a, None, "silver", Decimal("150")), (bulk_b, None, "gold", Decimal("650"))]
    assert _tier_trail(session, bulk_a) == _tier_trail(session, single)
    assert _code(session, bulk_b) == "gold"
    assert session.get(CustomerTier, below) is None
    assert len(service.history(session, held)) == 1  # already gold: nothing new

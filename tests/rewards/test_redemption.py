"""Redemption, vouchers, cancellation and expiry through the service layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidState,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from loyalist.interactions import service as timeline
from loyalist.purchases import service as purchases
from loyalist.rewards import codes, service
from loyalist.rewards.models import Redemption, Voucher
from loyalist.rewards.schemas import RewardUpdate
from loyalist.rewards.service import NotEligible, OutOfStock
from loyalist.tiers import service as tiers

from .conftest import balance, key, make_customer, make_reward

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen_at(NOW):
        yield


def _counts(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(Redemption)),
            session.scalar(select(func.count()).select_from(Voucher)))


def test_happy_path(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, voucher_validity_days=14)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="r-1", actor=actor)
    assert (red.customer_id, red.reward_id, red.points, red.status) == (cid, reward.id, 300, "active")
    assert balance(session, cid) == 700
    after = service.get_reward(session, reward.id)
    assert (after.stock, after.redeemed_count) == (4, 1)
    v = red.voucher
    assert (v.status, v.issued_at, v.expires_at) == ("issued", NOW, NOW + timedelta(days=14))
    assert codes.normalise(v.code) == v.code and len(v.code) == 13
    assert not set(v.code) & set("01OI")
    kinds = [i.kind for i in timeline.list_timeline(session, cid).items]
    assert "reward_redeemed" in kinds
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reward.redeem")) == 1


def test_same_key_returns_the_first_result(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor)
    other = make_reward(session, actor, name="Mug")
    first = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="r-1", actor=actor)
    again = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="r-1", actor=actor)
    assert again == first
    assert (balance(session, cid), service.get_reward(session, reward.id).stock, _counts(session)) == (700, 4, (1, 1))
    with pytest.raises(IdempotencyConflict) as err:
        service.redeem_reward(session, customer_id=cid, reward_id=other.id, idempotency_key="r-1", actor=actor)
    assert err.value.field == "idempotency_key"
    assert (balance(session, cid), service.get_reward(session, other.id).stock, _counts(session)) == (700, 5, (1, 1))


def test_insufficient_points_changes_nothing(session, actor) -> None:
    cid = make_customer(session, actor, points=299)
    reward = make_reward(session, actor)
    with pytest.raises(InsufficientPoints):
        service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    after = service.get_reward(session, reward.id)
    assert (after.stock, after.redeemed_count, balance(session, cid), _counts(session)) == (5, 0, 299, (0, 0))


def test_lifetime_limit_per_customer(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, limit_per_customer=1)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    with pytest.raises(LimitExceeded) as err:
        service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    assert err.value.field == "reward_id"
    assert (balance(session, cid), service.get_reward(session, reward.id).stock, _counts(session)) == (700, 4, (1, 1))
    # Another customer is not affected.
    other = make_customer(session, actor, points=300)
    service.redeem_reward(session, customer_id=other, reward_id=reward.id, idempotency_key=key(), actor=actor)


def test_limit_per_period(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, limit_per_period=1, period_days=7)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    with clock.frozen_at(NOW + timedelta(days=6, hours=23)), pytest.raises(LimitExceeded):
        service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    with clock.frozen_at(NOW + timedelta(days=7)):
        service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    assert balance(session, cid) == 400


def test_cancelled_redemption_frees_the_limit(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, limit_per_customer=1)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    service.cancel_redemption(session, redemption_id=red.id, actor=actor)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    assert balance(session, cid) == 700


def test_tier_eligibility(session, actor, ladder) -> None:
    silver_c = make_customer(session, actor, points=1000)
    gold_c = make_customer(session, actor, points=1000)
    for cid, amount in ((silver_c, "150"), (gold_c, "600")):
        purchases.record_purchase(session, customer_id=cid, order_ref=f"O-{cid}", currency="EUR",
                                  occurred_at=NOW - timedelta(days=1), net_amount=Decimal(amount))
        tiers.evaluate_customer(session, customer_id=cid, actor=actor)
    gold_only = make_reward(session, actor, min_tier_rank=2)
    silver_list = make_reward(session, actor, tier_codes=["silver"])
    with pytest.raises(NotEligible) as err:
        service.redeem_reward(session, customer_id=silver_c, reward_id=gold_only.id, idempotency_key=key(),
                              actor=actor)
    assert (err.value.field, err.value.code, err.value.status_code) == ("reward_id", "not_eligible", 409)
    assert (balance(session, silver_c), service.get_reward(session, gold_only.id).stock) == (1000, 5)
    service.redeem_reward(session, customer_id=gold_c, reward_id=gold_only.id, idempotency_key=key(), actor=actor)
    with pytest.raises(NotEligible):
        service.redeem_reward(session, customer_id=gold_c, reward_id=silver_list.id, idempotency_key=key(),
                              actor=actor)
    service.redeem_reward(session, customer_id=silver_c, reward_id=silver_list.id, idempotency_key=key(),
                          actor=actor)
    assert [r.id for r in service.list_rewards(session, eligible_for=gold_c)] == [gold_only.id]
    assert [r.id for r in service.list_rewards(session, eligible_for=silver_c)] == [silver_list.id]


def test_unknown_tier_code_names_the_field(session, actor, ladder) -> None:
    with pytest.raises(ValidationFailed) as err:
        make_reward(session, actor, tier_codes=["platinum"])
    assert err.value.field == "tier_codes"
    assert service.list_rewards(session) == []


def test_inactive_or_out_of_window_reward_is_refused(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    inactive = make_reward(session, actor, active=False)
    later = make_reward(session, actor, valid_from=NOW + timedelta(days=1))
    ended = make_reward(session, actor, valid_until=NOW)
    for reward in (inactive, later, ended):
        with pytest.raises(InvalidState) as err:
            service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
        assert err.value.field == "reward_id"
    assert (balance(session, cid), _counts(session)) == (1000, (0, 0))


def test_out_of_stock(session, actor) -> None:
    a, b = make_customer(session, actor, points=500), make_customer(session, actor, points=500)
    reward = make_reward(session, actor, stock=1)
    service.redeem_reward(session, customer_id=a, reward_id=reward.id, idempotency_key=key(), actor=actor)
    with pytest.raises(OutOfStock) as err:
        service.redeem_reward(session, customer_id=b, reward_id=reward.id, idempotency_key=key(), actor=actor)
    assert (err.value.code, err.value.field) == ("out_of_stock", "reward_id")
    assert (balance(session, b), service.get_reward(session, reward.id).stock, _counts(session)) == (500, 0, (1, 1))


def test_unlimited_stock_stays_unlimited(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, stock=None)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    after = service.get_reward(session, reward.id)
    assert (after.stock, after.redeemed_count) == (None, 1)


def test_voucher_is_consumed_exactly_once(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    red = service.redeem_reward(session, customer_id=cid, reward_id=make_reward(session, actor).id,
                                idempotency_key=key(), actor=actor)
    check = service.validate_voucher(session, code=red.voucher.code.lower().replace("-", " "))
    assert (check.usable, check.status, check.customer_id, check.customer_name, check.reward.name) == (
        True, "issued", cid, "Rita Ward", "Tote bag")
    assert service.validate_voucher(session, code=red.voucher.code).status == "issued"  # validate consumed nothing
    used = service.consume_voucher(session, code=red.voucher.code, actor=actor, store="CPH-1", order_ref="A-9")
    assert (used.status, used.consumed_at, used.store, used.order_ref) == ("consumed", NOW, "CPH-1", "A-9")
    with pytest.raises(InvalidState) as err:
        service.consume_voucher(session, code=red.voucher.code, actor=actor)
    assert (err.value.field, err.value.status_code) == ("code", 409)
    assert "already used" in err.value.message
    assert service.validate_voucher(session, code=red.voucher.code).usable is False
    assert session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "voucher.consume")) == 1


def test_bad_codes(session, actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.consume_voucher(session, code="ABCD-EFGH-JK", actor=actor)  # too short
    assert err.value.field == "code"
    good = codes.generate()
    typo = good[:-1] + ("A" if good[-1] != "A" else "B")
    with pytest.raises(ValidationFailed):
        service.validate_voucher(session, code=typo)
    with pytest.raises(NotFound) as err:
        service.validate_voucher(session, code=good)
    assert err.value.field == "code"


def test_expired_voucher_is_rejected_and_expired_by_the_job(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, voucher_validity_days=10)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    expiry = NOW + timedelta(days=10)
    with clock.frozen_at(expiry):
        with pytest.raises(InvalidState) as err:
            service.consume_voucher(session, code=red.voucher.code, actor=actor)
        assert "expired" in err.value.message
        assert service.validate_voucher(session, code=red.voucher.code).usable is False
        result = service.expire_vouchers(session, actor=actor)
        assert (result.expired, result.refunded) == (1, 0)
        assert service.expire_vouchers(session, actor=actor).expired == 0  # re-runnable
    assert service.list_vouchers(session, cid)[0].status == "expired"
    assert balance(session, cid) == 700  # default policy: no refund
    with pytest.raises(InvalidState):
        service.cancel_redemption(session, redemption_id=red.id, actor=actor)


def test_expiry_with_refund_policy(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, voucher_validity_days=10)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    from loyalist.rewards.jobs import JOBS

    result = JOBS["rewards.expire_vouchers"](session, as_of=NOW + timedelta(days=11), actor=actor, refund=True)
    assert (result.expired, result.refunded) == (1, 1)
    assert (balance(session, cid), service.get_reward(session, reward.id).stock) == (1000, 5)
    assert service.list_redemptions(session, cid)[0].status == "cancelled"


def test_cancel_refunds_points_and_restores_stock(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    done = service.cancel_redemption(session, redemption_id=red.id, actor=actor, reason="changed mind")
    assert (done.status, done.cancelled_at, done.cancel_reason, done.voucher.status) == (
        "cancelled", NOW, "changed mind", "void")
    assert done.reversal_entry_id is not None
    after = service.get_reward(session, reward.id)
    assert (balance(session, cid), after.stock, after.redeemed_count) == (1000, 5, 0)
    with pytest.raises(InvalidState) as err:
        service.cancel_redemption(session, redemption_id=red.id, actor=actor)
    assert err.value.field == "redemption_id"
    with pytest.raises(InvalidState):
        service.consume_voucher(session, code=red.voucher.code, actor=actor)
    assert balance(session, cid) == 1000


def test_cancel_after_consumption_is_refused(session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key=key(), actor=actor)
    service.consume_voucher(session, code=red.voucher.code, actor=actor)
    with pytest.raises(InvalidState) as err:
        service.cancel_redemption(session, redemption_id=red.id, actor=actor)
    assert "consumed" in err.value.message
    assert (balance(session, cid), service.get_reward(session, reward.id).stock) == (700, 4)
    assert service.get_redemption(session, red.id).status == "active"


def test_reward_rules_name_fields(session, actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        make_reward(session, actor, kind="discount_percent")
    assert err.value.field == "value"
    with pytest.raises(ValidationFailed) as err:
        make_reward(session, actor, kind="discount_percent", value=Decimal("120"))
    assert err.value.field == "value"
    with pytest.raises(ValidationFailed) as err:
        make_reward(session, actor, limit_per_period=2)
    assert err.value.field == "period_days"
    with pytest.raises(ValidationFailed) as err:
        make_reward(session, actor, valid_from=NOW, valid_until=NOW)
    assert err.value.field == "valid_until"
    assert service.list_rewards(session) == []


def test_merge_moves_vouchers(session, actor) -> None:
    a, b = make_customer(session, actor), make_customer(session, actor, points=500)
    red = service.redeem_reward(session, customer_id=b, reward_id=make_reward(session, actor).id,
                                idempotency_key=key(), actor=actor)
    service._merge_handler(session, survivor_id=a, duplicate_id=b, actor=actor)
    assert [v.code for v in service.list_vouchers(session, a)] == [red.voucher.code]
    assert service.list_vouchers(session, b) == []
    assert service._view_section(session, a)["count"] == 1


def test_refused_update_leaves_the_reward_unchanged(session, actor, ladder) -> None:
    reward = make_reward(session, actor)
    with pytest.raises(ValidationFailed) as err:
        service.update_reward(session, reward_id=reward.id,
                              data=RewardUpdate(name="Renamed", tier_codes=["platinum"]), actor=actor)
    assert err.value.field == "tier_codes"
    session.expire_all()
    assert service.get_reward(session, reward.id) == reward
    with pytest.raises(ValidationFailed) as err:
        service.expire_vouchers(session, as_of=datetime(2026, 1, 1), actor=actor)
    assert err.value.field == "as_of"

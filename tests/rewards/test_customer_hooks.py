"""Rewards and tiers take part in customer merge, 360 view, export and erasure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalist import clock
from loyalist.customers import service as customers
from loyalist.errors import InvalidState
from loyalist.purchases import service as purchases
from loyalist.rewards import service
from loyalist.tiers import service as tiers

from .conftest import key, make_customer, make_reward


def _gold(session, actor, cid) -> None:
    purchases.record_purchase(session, customer_id=cid, order_ref=f"H-{cid}", currency="EUR",
                              occurred_at=clock.now() - timedelta(days=1), net_amount=Decimal("600"))
    tiers.evaluate_customer(session, customer_id=cid, actor=actor)


def test_merge_moves_vouchers_and_keeps_the_better_tier(session, actor, ladder) -> None:
    survivor, duplicate = make_customer(session, actor), make_customer(session, actor, points=500)
    _gold(session, actor, duplicate)
    red = service.redeem_reward(session, customer_id=duplicate, reward_id=make_reward(session, actor).id,
                                idempotency_key=key(), actor=actor)
    customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    assert [v.code for v in service.list_vouchers(session, survivor)] == [red.voucher.code]
    assert [r.id for r in service.list_redemptions(session, survivor)] == [red.id]
    assert tiers.current_tier(session, survivor).code == "gold"
    assert tiers.current_tier(session, duplicate) is None
    with pytest.raises(InvalidState) as err:
        service.redeem_reward(session, customer_id=duplicate, reward_id=red.reward_id, idempotency_key=key(),
                              actor=actor)
    assert err.value.field == "customer_id"


def test_360_and_export_sections(session, actor, ladder) -> None:
    cid = make_customer(session, actor, points=500)
    _gold(session, actor, cid)
    red = service.redeem_reward(session, customer_id=cid, reward_id=make_reward(session, actor).id,
                                idempotency_key=key(), actor=actor)
    view = customers.customer_360(session, cid).sections
    assert view["tier"]["status"]["code"] == "gold"
    assert view["tier"]["progress"]["next_code"] is None
    assert view["vouchers"]["count"] == 1
    assert view["vouchers"]["usable"][0]["code"] == red.voucher.code
    exported = customers.export_customer(session, cid)["sections"]
    assert [h["reason"] for h in exported["tier"]["history"]] == ["upgrade"]
    assert exported["rewards"]["redemptions"][0]["voucher"]["code"] == red.voucher.code


def test_erasure_voids_unused_vouchers(session, actor) -> None:
    cid = make_customer(session, actor, points=500)
    red = service.redeem_reward(session, customer_id=cid, reward_id=make_reward(session, actor).id,
                                idempotency_key=key(), actor=actor)
    customers.erase_customer(session, customer_id=cid, actor=actor)
    assert service.validate_voucher(session, code=red.voucher.code).status == "void"
    with pytest.raises(InvalidState):
        service.consume_voucher(session, code=red.voucher.code, actor=actor)

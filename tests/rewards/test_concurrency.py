"""Real commits from parallel threads on both backends: no oversell, one consume, one charge."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from tests.parallel import run_in_parallel

from loyalist.db import make_session_factory, unit_of_work
from loyalist.ledger import service as ledger
from loyalist.rewards import service
from loyalist.rewards.models import Redemption, Voucher

from .conftest import make_customer, make_reward


def test_stock_is_never_oversold(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        customers = [make_customer(s, actor, points=1000) for _ in range(10)]
        reward_id = make_reward(s, actor, stock=5, cost_points=100).id

    def redeem(i: int) -> int:
        with unit_of_work(factory) as s:
            return service.redeem_reward(s, customer_id=customers[i % 10], reward_id=reward_id,
                                         idempotency_key=f"par-{i}", actor=actor).id

    results = run_in_parallel(20, redeem)
    outcome = Counter(type(r).__name__ for r in results)
    assert outcome == {"int": 5, "OutOfStock": 15}
    with unit_of_work(factory) as s:
        reward = service.get_reward(s, reward_id)
        assert (reward.stock, reward.redeemed_count) == (0, 5)
        assert s.scalar(select(func.count()).select_from(Redemption)) == 5
        assert s.scalar(select(func.count()).select_from(Voucher)) == 5
        spent = sum(1000 - ledger.get_balance(s, c).available for c in customers)
        assert spent == 500
        assert ledger.reconcile(s).ok


def test_same_key_in_parallel_charges_once(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        cid = make_customer(s, actor, points=1000)
        reward_id = make_reward(s, actor, stock=5, cost_points=100).id

    def redeem(_i: int) -> int:
        with unit_of_work(factory) as s:
            return service.redeem_reward(s, customer_id=cid, reward_id=reward_id, idempotency_key="same",
                                         actor=actor).id

    results = run_in_parallel(6, redeem)
    assert len(set(results)) == 1 and isinstance(results[0], int)
    with unit_of_work(factory) as s:
        assert ledger.get_balance(s, cid).available == 900
        assert service.get_reward(s, reward_id).stock == 4


def test_voucher_consumed_once_under_concurrency(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        cid = make_customer(s, actor, points=1000)
        code = service.redeem_reward(s, customer_id=cid, reward_id=make_reward(s, actor).id,
                                     idempotency_key="v", actor=actor).voucher.code

    def consume(i: int) -> str:
        with unit_of_work(factory) as s:
            return service.consume_voucher(s, code=code, actor=actor, store=f"till-{i}").status

    results = run_in_parallel(10, consume)
    outcome = Counter(r if isinstance(r, str) else type(r).__name__ for r in results)
    assert outcome == {"consumed": 1, "InvalidState": 9}
    with unit_of_work(factory) as s:
        assert service.validate_voucher(s, code=code).status == "consumed"


def test_per_customer_limit_holds_under_concurrency(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        cid = make_customer(s, actor, points=1000)
        reward_id = make_reward(s, actor, stock=None, cost_points=100, limit_per_customer=2).id

    def redeem(i: int) -> int:
        with unit_of_work(factory) as s:
            return service.redeem_reward(s, customer_id=cid, reward_id=reward_id, idempotency_key=f"lim-{i}",
                                         actor=actor).id

    outcome = Counter(type(r).__name__ for r in run_in_parallel(8, redeem))
    assert outcome == {"int": 2, "LimitExceeded": 6}
    with unit_of_work(factory) as s:
        assert ledger.get_balance(s, cid).available == 800


def test_cancel_racing_consume_has_one_winner(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        cid = make_customer(s, actor, points=1000)
        red = service.redeem_reward(s, customer_id=cid, reward_id=make_reward(s, actor).id,
                                    idempotency_key="race", actor=actor)

    def act(i: int) -> str:
        with unit_of_work(factory) as s:
            if i % 2:
                return service.consume_voucher(s, code=red.voucher.code, actor=actor).status
            return service.cancel_redemption(s, redemption_id=red.id, actor=actor).status

    results = run_in_parallel(6, act)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1 and all(type(r).__name__ == "InvalidState" for r in results if r not in winners)
    with unit_of_work(factory) as s:
        expected = 1000 if winners == ["cancelled"] else 700
        assert ledger.get_balance(s, cid).available == expected
        assert ledger.reconcile(s).ok

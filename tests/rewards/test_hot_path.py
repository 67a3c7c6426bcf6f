"""Reward redemption and voucher use at the till: a bounded number of SQL statements and answers
built in memory that equal a read-back.

Statement counts are deterministic where timings are not (the machine is shared): they are the
regression guard. The numbers are what the paths need today; raising one needs a reason.
"""

from __future__ import annotations

from sqlalchemy import select
from tests.rewards.conftest import balance, make_customer, make_reward
from tests.statements import statements

from loyalist.audit.models import AuditEntry
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.rewards import service

# Redemption of a reward without tier rule or limits: replay check, customer state, reward, SAVEPOINT,
# stock UPDATE ... RETURNING, ledger.redeem (9 statements on PostgreSQL, 13 on SQLite: see
# tests/ledger/test_hot_path.py), redemption and voucher INSERTs, RELEASE, then audit + timeline
# (one statement of CTEs on PostgreSQL, two on SQLite).
MAX_STATEMENTS_PER_REWARD_REDEMPTION = {"sqlite": 23, "postgresql": 18}
# Voucher use: the guarded UPDATE ... RETURNING (with the reward's name), then audit + timeline.
MAX_STATEMENTS_PER_VOUCHER_USE = {"sqlite": 3, "postgresql": 2}


def test_reward_redemption_and_voucher_use_stay_under_the_statement_budget(engine, session, actor) -> None:
    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor, stock=5)
    service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="warm", actor=actor)
    session.expunge_all()  # as in a new request: nothing of the customer or reward loaded
    with statements(engine) as seen:
        red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="hot",
                                    actor=actor)
    assert len(seen) <= MAX_STATEMENTS_PER_REWARD_REDEMPTION[engine.dialect.name], "\n".join(seen)
    assert red == service.get_redemption(session, red.id)  # built in memory, equal to a read-back
    assert service.get_reward(session, reward.id).stock == 3 and balance(session, cid) == 400
    assert service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="hot",
                                 actor=actor) == red  # a replay answers the same

    with statements(engine) as seen:
        used = service.consume_voucher(session, code=red.voucher.code, actor=actor, store="S1", order_ref="O-9")
    assert len(seen) <= MAX_STATEMENTS_PER_VOUCHER_USE[engine.dialect.name], "\n".join(seen)
    assert used.status == "consumed" and used.store == "S1" and used.order_ref == "O-9"
    assert used == service.get_redemption(session, red.id).voucher
    assert service.validate_voucher(session, code=red.voucher.code).usable is False
    timeline = session.scalars(select(Interaction.summary).where(Interaction.customer_id == cid)
                               .order_by(Interaction.id.desc())).first()
    assert timeline == f"Voucher {red.voucher.code} used for Tote bag in S1"
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(3)).all()
    assert actions[0] == "voucher.consume" and "reward.redeem" in actions
    assert ledger.reconcile(session).ok


def test_a_loaded_voucher_is_not_served_stale_after_use(session, actor) -> None:
    """Consumption is a Core UPDATE: a copy of the voucher already in the session must not keep
    reporting 'issued'."""
    from loyalist.rewards.models import Voucher

    cid = make_customer(session, actor, points=1000)
    reward = make_reward(session, actor)
    red = service.redeem_reward(session, customer_id=cid, reward_id=reward.id, idempotency_key="k", actor=actor)
    loaded = session.get(Voucher, red.voucher.id)
    assert loaded is not None and loaded.status == "issued"
    service.consume_voucher(session, code=red.voucher.code, actor=actor)
    assert loaded.status == "consumed"

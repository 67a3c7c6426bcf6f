"""The debit path (POS redemption): a bounded number of SQL statements, an answer built in memory
that equals a read-back, and the lazy expiry still done first when there is something to expire.

Statement counts are deterministic where timings are not (the machine is shared): they are the
regression guard. The numbers are what the path needs today; raising one needs a reason.
"""

from __future__ import annotations

from datetime import timedelta

from tests.ledger.helpers import T0, assert_consistent
from tests.statements import statements

from loyalist.ledger import service as ledger

# ledger.redeem of an integration/staff actor, customer with accounts and nothing to expire:
# replay check, SAVEPOINT, status + account ids, lock (reads the balance), lots to settle/spend,
# entry (ON CONFLICT DO NOTHING), guarded balance UPDATE, RELEASE; then postings, lot update,
# movements, timeline and audit: one statement of CTEs on PostgreSQL, five on SQLite.
MAX_STATEMENTS_PER_REDEMPTION = {"sqlite": 13, "postgresql": 9}


def test_pos_redemption_stays_under_the_statement_budget(engine, session, actor, customer_id, frozen) -> None:
    for i, days in enumerate((30, 60, 90)):
        ledger.earn(session, customer_id=customer_id, points=10, source="pos", idempotency_key=f"e{i}",
                    reason="purchase", actor=actor, expires_at=T0 + timedelta(days=days))
    ledger.redeem(session, customer_id=customer_id, points=1, source="pos", idempotency_key="warm",
                  reason="warm", actor=actor)
    with statements(engine) as seen:
        spent = ledger.redeem(session, customer_id=customer_id, points=15, source="pos", idempotency_key="r",
                              reason="coffee", actor=actor, reference_type="order", reference_id="A1",
                              payload={"till": 3}, channel="in_store")
    assert len(seen) <= MAX_STATEMENTS_PER_REDEMPTION[engine.dialect.name], "\n".join(seen)
    # the customer's own account row is the only account updated; no system account is touched
    updates = [s for s in seen if "UPDATE ledger_accounts" in s]
    assert len(updates) == 1 and "balance + " in updates[0]
    assert spent == ledger.get_entry(session, spent.id)  # built in memory, equal to a read-back
    assert [(m.points, m.expires_at) for m in spent.lots] == [(-9, T0 + timedelta(days=30)),
                                                               (-6, T0 + timedelta(days=60))]
    assert ledger.get_balance(session, customer_id).available == 14
    # a replay answers the same entry
    again = ledger.redeem(session, customer_id=customer_id, points=15, source="pos", idempotency_key="r",
                          reason="coffee", actor=actor, reference_type="order", reference_id="A1",
                          payload={"till": 3}, channel="in_store")
    assert again == spent
    assert_consistent(session)


def test_redemption_expires_and_releases_due_lots_first(engine, session, actor, customer_id, frozen) -> None:
    """The one lots query also finds work for `_settle`: a due lot is expired (and a matured
    pending lot released) before spending, so only what is really available can be spent."""
    ledger.earn(session, customer_id=customer_id, points=10, source="pos", idempotency_key="soon",
                reason="purchase", actor=actor, expires_at=T0 + timedelta(days=1))
    ledger.earn(session, customer_id=customer_id, points=5, source="pos", idempotency_key="later",
                reason="purchase", actor=actor, available_at=T0 + timedelta(days=2))
    ledger.earn(session, customer_id=customer_id, points=4, source="pos", idempotency_key="never",
                reason="purchase", actor=actor)
    frozen(T0 + timedelta(days=3))
    spent = ledger.redeem(session, customer_id=customer_id, points=9, source="pos", idempotency_key="r",
                          reason="coffee", actor=actor)
    assert spent == ledger.get_entry(session, spent.id)
    assert sum(m.points for m in spent.lots) == -9
    balance = ledger.get_balance(session, customer_id)
    assert (balance.available, balance.pending, balance.expired) == (0, 0, 10)
    kinds = [e.kind for e in ledger.list_entries(session, customer_id).items]
    assert kinds.count("expire") == 1 and kinds.count("release") == 1
    assert_consistent(session)


def test_the_built_once_statements_are_cacheable(engine) -> None:
    """A statement without a cache key is compiled anew on every call (a multi-row VALUES with
    bound parameters was: ~1 ms per redemption); every statement of the redemption paths has one."""
    from loyalist.rewards import service as rewards

    built = {**ledger._debit_statements(engine.dialect.name), **rewards._statements()}
    assert {name for name, stmt in built.items() if stmt._generate_cache_key() is None} == set()

"""Real threads on real connections (committed transactions) on SQLite and PostgreSQL.

50 parallel redemptions of 10 points against 100: exactly 10 succeed, the balance ends at 0 and
is never negative at any point of its history; 20 parallel earns with one idempotency key write
exactly one entry and all return it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select, text
from tests.conftest import STAFF_ACTOR
from tests.ledger.helpers import new_customer

from loyalist.db import make_session_factory, unit_of_work
from loyalist.errors import InsufficientPoints
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting


def _customer(factory) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(factory) as s:
        return new_customer(s, STAFF_ACTOR, "Concurrent")


def test_parallel_redemptions_never_overdraw(committed_engine) -> None:
    factory = make_session_factory(committed_engine)
    c = _customer(factory)
    with unit_of_work(factory) as s:
        ledger.earn(s, customer_id=c, points=100, source="pos", idempotency_key="seed", reason="seed",
                    actor=STAFF_ACTOR)
    barrier = threading.Barrier(25)

    def attempt(i: int) -> str:
        if i < 25:
            barrier.wait(timeout=30)
        try:
            with unit_of_work(factory) as s:
                ledger.redeem(s, customer_id=c, points=10, source="pos", idempotency_key=f"till-{i}",
                              reason="coffee", actor=STAFF_ACTOR)
            return "ok"
        except InsufficientPoints:
            return "refused"

    with ThreadPoolExecutor(max_workers=25) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("ok") == 10 and outcomes.count("refused") == 40
    with unit_of_work(factory) as s:
        assert ledger.get_balance(s, c).available == 0
        account = s.scalar(select(LedgerAccount.id).where(LedgerAccount.code == f"customer:{c}:available"))
        amounts = s.scalars(select(LedgerPosting.amount).where(LedgerPosting.account_id == account)
                            .order_by(LedgerPosting.id)).all()
        running, lowest = 0, 0
        for amount in amounts:
            running += amount
            lowest = min(lowest, running)
        assert (running, lowest, len(amounts)) == (0, 0, 11)
        report = ledger.reconcile(s)
        assert report.ok, report.mismatches


def test_parallel_earns_with_one_key_write_one_entry(committed_engine) -> None:
    factory = make_session_factory(committed_engine)
    c = _customer(factory)  # no ledger accounts yet: their creation races too
    barrier = threading.Barrier(20)

    def attempt(_: int) -> int:
        barrier.wait(timeout=30)
        with unit_of_work(factory) as s:
            return ledger.earn(s, customer_id=c, points=25, source="webshop", idempotency_key="order-42",
                               reason="order 42", actor=STAFF_ACTOR, payload={"order": 42}).id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(attempt, range(20)))
    assert len(set(ids)) == 1
    with unit_of_work(factory) as s:
        count = s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.customer_id == c))
        assert count == 1
        assert ledger.get_balance(s, c).available == 25
        assert ledger.reconcile(s).ok


def test_expiry_job_racing_redemptions_expires_each_lot_once(committed_engine, frozen) -> None:
    """The job and the redemptions' lazy expiry touch the same lots: no deadlock, no double expiry."""
    from datetime import timedelta

    from tests.ledger.helpers import T0

    factory = make_session_factory(committed_engine)
    ids = [_customer(factory) for _ in range(6)]
    with unit_of_work(factory) as s:
        for c in ids:
            ledger.earn(s, customer_id=c, points=30, source="pos", idempotency_key=f"soon-{c}", reason="x",
                        actor=STAFF_ACTOR, expires_at=T0 + timedelta(days=10))
            ledger.earn(s, customer_id=c, points=50, source="pos", idempotency_key=f"keep-{c}", reason="x",
                        actor=STAFF_ACTOR)
    frozen(T0 + timedelta(days=11))
    barrier = threading.Barrier(len(ids) + 2)

    def redeem(c: int) -> str:
        barrier.wait(timeout=30)
        try:
            with unit_of_work(factory) as s:
                ledger.redeem(s, customer_id=c, points=60, source="pos", idempotency_key=f"r-{c}", reason="x",
                              actor=STAFF_ACTOR)
            return "ok"
        except InsufficientPoints:
            return "refused"

    def job(_: int) -> int:
        barrier.wait(timeout=30)
        with unit_of_work(factory) as s:
            return ledger.expire_due(s, as_of=T0 + timedelta(days=11))

    with ThreadPoolExecutor(max_workers=len(ids) + 2) as pool:
        redemptions = [pool.submit(redeem, c) for c in ids]
        jobs = [pool.submit(job, i) for i in range(2)]
        outcomes = [f.result() for f in redemptions]
        expired = sum(f.result() for f in jobs)
    assert outcomes == ["refused"] * len(ids)  # only the 50 never-expiring points were left
    assert expired <= len(ids)
    with unit_of_work(factory) as s:
        kinds = s.execute(select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind)).all()
        assert dict(kinds) == {"earn": 2 * len(ids), "expire": len(ids)}
        assert all(ledger.get_balance(s, c).available == 50 for c in ids)
        assert ledger.reconcile(s).ok


def test_writers_of_different_customers_never_wait_for_each_other(committed_engine) -> None:
    """No shared row: while one transaction holds a credit and a redemption of customer A open,
    credits and redemptions of customer B commit at once (a cached `issued`/`redemption` balance
    would make B wait for A's row lock). PostgreSQL only: SQLite has one writer by design."""
    if committed_engine.dialect.name != "postgresql":
        return
    factory = make_session_factory(committed_engine)
    a, b = _customer(factory), _customer(factory)
    with unit_of_work(factory) as s:  # (the first use of a system account creates its row)
        ledger.earn(s, customer_id=b, points=51, source="pos", idempotency_key="b-seed", reason="seed",
                    actor=STAFF_ACTOR)
        ledger.redeem(s, customer_id=b, points=1, source="pos", idempotency_key="b-seed-r", reason="seed",
                      actor=STAFF_ACTOR)
        ledger.earn(s, customer_id=a, points=1, source="pos", idempotency_key="a-seed", reason="seed",
                    actor=STAFF_ACTOR)
    holder = factory()
    try:
        holder.begin()
        ledger.earn(holder, customer_id=a, points=10, source="pos", idempotency_key="a-1", reason="open",
                    actor=STAFF_ACTOR)
        ledger.redeem(holder, customer_id=a, points=5, source="pos", idempotency_key="a-2", reason="open",
                      actor=STAFF_ACTOR)
        with unit_of_work(factory) as s:
            s.execute(text("SET LOCAL lock_timeout = '3s'"))
            ledger.earn(s, customer_id=b, points=10, source="pos", idempotency_key="b-1", reason="meanwhile",
                        actor=STAFF_ACTOR)
            ledger.redeem(s, customer_id=b, points=20, source="pos", idempotency_key="b-2", reason="meanwhile",
                          actor=STAFF_ACTOR)
        holder.commit()
    finally:
        holder.close()
    with unit_of_work(factory) as s:
        assert (ledger.get_balance(s, a).available, ledger.get_balance(s, b).available) == (6, 40)
        assert ledger.reconcile(s).ok


def test_parallel_redemptions_with_one_key_charge_once(committed_engine) -> None:
    """The debit writes its entry with ON CONFLICT DO NOTHING and no re-check after the lock: a
    lost race must still be answered as a replay, with nothing else of the loser left behind."""
    factory = make_session_factory(committed_engine)
    c = _customer(factory)
    with unit_of_work(factory) as s:
        ledger.earn(s, customer_id=c, points=100, source="pos", idempotency_key="seed", reason="seed",
                    actor=STAFF_ACTOR)
    barrier = threading.Barrier(10)

    def attempt(_: int) -> int:
        barrier.wait(timeout=30)
        with unit_of_work(factory) as s:
            return ledger.redeem(s, customer_id=c, points=30, source="pos", idempotency_key="till-7",
                                 reason="coffee", actor=STAFF_ACTOR).id

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(attempt, range(10)))
    assert len(set(ids)) == 1
    with unit_of_work(factory) as s:
        kinds = s.scalars(select(LedgerEntry.kind).where(LedgerEntry.customer_id == c)).all()
        assert sorted(kinds) == ["earn", "redeem"]
        assert ledger.get_balance(s, c).available == 70
        assert ledger.reconcile(s).ok

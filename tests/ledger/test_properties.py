"""Property: any sequence of ledger operations keeps the books balanced.

Random sequences of earn (available/pending, expiring or not), redeem, adjust, clawback (both
policies), reverse, expire and clock moves must leave: every account's cached balance equal to
the sum of its postings, every entry's postings summing to zero, the global sum zero, lots
agreeing with balances -- and a redemption must succeed exactly when the balance shown to the
customer covers it, never leaving the available balance negative.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ledger.helpers import T0, assert_consistent, new_customer

from loyalist.errors import Conflict, InsufficientPoints, InvalidState
from loyalist.ledger import service as ledger

who = st.integers(min_value=0, max_value=1)
amount = st.integers(min_value=1, max_value=150)
ops = st.one_of(
    st.tuples(st.just("earn"), who, amount, st.booleans(), st.one_of(st.none(), st.integers(1, 40))),
    st.tuples(st.just("redeem"), who, amount),
    st.tuples(st.just("adjust"), who, st.integers(-80, 80).filter(bool)),
    st.tuples(st.just("clawback"), who, amount, st.sampled_from(["allow_negative", "cap_at_balance"])),
    st.tuples(st.just("reverse"), st.integers(0, 30), st.sampled_from(["allow_negative", "cap_at_balance"])),
    st.tuples(st.just("advance"), st.integers(0, 20)),
    st.tuples(st.just("expire")),
    st.tuples(st.just("release")),
    st.tuples(st.just("replay"), st.integers(0, 30)),
    st.tuples(st.just("merge")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(ops, min_size=1, max_size=25))
def test_random_sequences_keep_the_books_balanced(session, actor, frozen, sequence) -> None:
    savepoint = session.begin_nested()
    try:
        _run(session, actor, frozen, sequence)
    finally:
        savepoint.rollback()
        session.expire_all()


def _run(session, actor, frozen, sequence) -> None:  # type: ignore[no-untyped-def]
    now = T0
    frozen(now)
    customers = [new_customer(session, actor, "P"), new_customer(session, actor, "Q")]
    entries: list[int] = []
    calls: list[tuple[object, dict[str, object], object]] = []
    for step, op in enumerate(sequence):
        key = f"k{step}"
        kind = op[0]
        if kind == "earn":
            _, i, points, pending, expires_in = op
            kwargs = dict(customer_id=customers[i], points=points, source="pos", idempotency_key=key,
                          reason="purchase", actor=actor,
                          available_at=now + timedelta(days=3) if pending else None,
                          expires_at=now + timedelta(days=3 + expires_in) if expires_in else None)
            result = ledger.earn(session, **kwargs)
            entries.append(result.id)
            calls.append((ledger.earn, kwargs, result))
        elif kind == "redeem":
            _, i, points = op
            shown = ledger.get_balance(session, customers[i]).available
            kwargs = dict(customer_id=customers[i], points=points, source="pos", idempotency_key=key,
                          reason="reward", actor=actor)
            try:
                result = ledger.redeem(session, **kwargs)
            except InsufficientPoints:
                assert points > shown
            else:
                assert points <= shown
                assert ledger.get_balance(session, customers[i]).available == shown - points >= 0
                entries.append(result.id)
                calls.append((ledger.redeem, kwargs, result))
        elif kind == "adjust":
            _, i, points = op
            shown = ledger.get_balance(session, customers[i]).available
            kwargs = dict(customer_id=customers[i], points=points, reason="correction", actor=actor,
                          idempotency_key=key)
            try:
                result = ledger.adjust(session, **kwargs)
            except InsufficientPoints:
                assert points < 0 and -points > shown
            else:
                assert ledger.get_balance(session, customers[i]).available == shown + points
                entries.append(result.id)
                calls.append((ledger.adjust, kwargs, result))
        elif kind == "clawback":
            _, i, points, policy = op
            kwargs = dict(customer_id=customers[i], points=points, source="returns", idempotency_key=key,
                          reason="return", actor=actor, policy=policy)
            result = ledger.clawback(session, **kwargs)
            assert -result.points <= points
            calls.append((ledger.clawback, kwargs, result))
        elif kind == "reverse":
            _, index, policy = op
            if entries:
                kwargs = dict(entry_id=entries[index % len(entries)], actor=actor, reason="undo",
                              idempotency_key=key, policy=policy)
                try:
                    result = ledger.reverse(session, **kwargs)
                except (Conflict, InvalidState):
                    pass
                else:
                    calls.append((ledger.reverse, kwargs, result))
        elif kind == "advance":
            now = now + timedelta(days=op[1])
            frozen(now)
        elif kind == "expire":
            ledger.expire_due(session, as_of=now, actor=actor)
            assert ledger.expire_due(session, as_of=now, actor=actor) == 0
        elif kind == "release":
            ledger.release_pending(session, as_of=now)
        elif kind == "merge" and customers[0] != customers[1]:
            # Q's points, lots (with their dates) and any debt move to P; Q is not used afterwards.
            before = _cached(session, customers[0], "available") + _cached(session, customers[0], "pending") + \
                _cached(session, customers[1], "available") + _cached(session, customers[1], "pending")
            ledger.merge_customers(session, survivor_id=customers[0], duplicate_id=customers[1], actor=actor)
            assert (_cached(session, customers[1], "available"), _cached(session, customers[1], "pending")) == (0, 0)
            assert _cached(session, customers[0], "available") + _cached(session, customers[0], "pending") == before
            customers[1] = customers[0]
        elif kind == "replay" and calls:
            fn, kwargs, first = calls[op[1] % len(calls)]
            assert fn(session, **kwargs).id == first.id  # type: ignore[operator,attr-defined]
        assert_consistent(session)
    for c in set(customers):
        # What the customer is shown entry by entry adds up to what the accounts hold.
        entries_sum = sum(e.points for e in ledger.list_entries(session, c, limit=1000, offset=0).items)
        assert entries_sum == _cached(session, c, "available") + _cached(session, c, "pending")


def _cached(session, customer_id: int, part: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from loyalist.ledger.models import LedgerAccount

    code = f"customer:{customer_id}:{part}"
    return session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == code)) or 0

"""The worked example of DESIGN.md: earn 100, redeem 40, expire 10 -> balance 50."""

from __future__ import annotations

from datetime import timedelta

from tests.ledger.helpers import T0, assert_consistent

from loyalist.ledger import service as ledger


def _balances(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Every account's balance: customers' cached balances, system accounts' posting sums."""
    return ledger.account_balances(session)


def test_earn_100_redeem_40_expire_10_leaves_50(session, actor, customer_id, frozen) -> None:
    c = customer_id
    # Given 100 points earned as two purchases: 50 expiring on day 30, 50 on day 60
    first = ledger.earn(session, customer_id=c, points=50, source="pos", idempotency_key="p1",
                        reason="purchase 1", actor=actor, expires_at=T0 + timedelta(days=30))
    second = ledger.earn(session, customer_id=c, points=50, source="pos", idempotency_key="p2",
                         reason="purchase 2", actor=actor, expires_at=T0 + timedelta(days=60))
    assert [(p.account, p.amount) for p in first.postings] == [(f"customer:{c}:available", 50), ("issued", -50)]
    assert [(m.lot_earned_entry_id, m.kind, m.points) for m in first.lots] == [(first.id, "earn", 50)]

    # When 40 are redeemed on day 1: they come from the lot expiring first
    frozen(T0 + timedelta(days=1))
    redemption = ledger.redeem(session, customer_id=c, points=40, source="pos", idempotency_key="r1",
                               reason="coffee machine", actor=actor)
    assert redemption.points == -40
    assert [(p.account, p.amount) for p in redemption.postings] == [(f"customer:{c}:available", -40),
                                                                     ("redemption", 40)]
    assert [(m.lot_earned_entry_id, m.kind, m.points) for m in redemption.lots] == [(first.id, "consume", -40)]

    # And on day 31 the 10 left of the first lot expire
    frozen(T0 + timedelta(days=31))
    assert ledger.expire_due(session, as_of=T0 + timedelta(days=31), actor=actor) == 1

    # Then 50 points remain, all in the second lot, with exact postings per account
    balance = ledger.get_balance(session, c)
    assert balance.model_dump() == {
        "customer_id": c, "available": 50, "pending": 0, "lifetime_earned": 100, "lifetime_redeemed": 40,
        "expired": 10, "next_expiries": [{"date": (T0 + timedelta(days=60)).date(), "points": 50}],
    }
    assert _balances(session) == {
        "breakage": 10, f"customer:{c}:available": 50, f"customer:{c}:pending": 0, "issued": -100,
        "redemption": 40,
    }
    entries = ledger.list_entries(session, c, limit=10, offset=0)
    assert [(e.kind, e.points) for e in entries.items] == [("expire", -10), ("redeem", -40), ("earn", 50),
                                                           ("earn", 50)]
    expiry = entries.items[0]
    assert [(p.account, p.amount) for p in expiry.postings] == [(f"customer:{c}:available", -10), ("breakage", 10)]
    assert [(m.lot_earned_entry_id, m.kind, m.points) for m in expiry.lots] == [(first.id, "expire", -10)]
    lots = ledger.list_lots(session, c)
    assert [(lot.entry_id, lot.points, lot.remaining) for lot in lots] == [(first.id, 50, 0), (second.id, 50, 50)]
    assert_consistent(session)

"""Helpers for rewards tests: customers with points, tiers, rewards."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.ledger import service as ledger
from loyalist.rewards import service
from loyalist.rewards.schemas import RewardCreate
from loyalist.tiers import service as tiers
from loyalist.tiers.schemas import TierCreate

_keys = count(1)


def make_customer(session, actor, points: int = 0) -> int:
    cid = customers.create_customer(session, data=CustomerCreate(first_name="Rita", last_name="Ward"),
                                    actor=actor).id
    if points:
        ledger.earn(session, customer_id=cid, points=points, source="test", idempotency_key=f"seed-{next(_keys)}",
                    reason="seed", actor=actor)
    return cid


def make_reward(session, actor, **overrides):
    fields = {"kind": "gift", "name": "Tote bag", "cost_points": 300, "stock": 5}
    fields.update(overrides)
    return service.create_reward(session, data=RewardCreate(**fields), actor=actor)


def balance(session, cid) -> int:
    return ledger.get_balance(session, cid).available


def key() -> str:
    return f"k-{next(_keys)}"


@pytest.fixture
def ladder(session, actor):
    """silver (rank 1, 100 spend) and gold (rank 2, 500 spend)."""
    return tuple(
        tiers.create_tier(session, data=TierCreate(code=code, name=code.title(), rank=rank, metric="spend",
                                                   window_days=365, threshold=Decimal(t)), actor=actor)
        for code, rank, t in (("silver", 1, "100"), ("gold", 2, "500"))
    )

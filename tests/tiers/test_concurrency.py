"""Parallel evaluations of one customer (two earn events at once) record one upgrade."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.db import make_session_factory, unit_of_work
from loyalist.purchases import service as purchases
from loyalist.tiers import service
from loyalist.tiers.models import TierHistory
from loyalist.tiers.schemas import TierCreate

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_parallel_evaluations_upgrade_once(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        service.create_tier(s, data=TierCreate(code="silver", name="Silver", rank=1, metric="spend", window_days=365,
                                               threshold=Decimal("100")), actor=actor)
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Pat"), actor=actor).id
        purchases.record_purchase(s, customer_id=cid, order_ref="C-1", occurred_at=T0, currency="EUR",
                                  net_amount=Decimal("150"))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def evaluate() -> None:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                service.evaluate_customer(s, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with unit_of_work(factory) as s:
        assert service.current_tier(s, cid).code == "silver"
        assert s.scalar(select(func.count()).select_from(TierHistory)) == 1

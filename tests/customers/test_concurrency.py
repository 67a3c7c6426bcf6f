"""Get-or-create under concurrency: parallel importers of one new external id get one customer."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from loyalist.customers import service
from loyalist.customers.models import Customer
from loyalist.db import make_session_factory
from loyalist.types import SYSTEM


def test_parallel_ensure_creates_one_customer(committed_engine) -> None:
    factory = make_session_factory(committed_engine)
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with factory() as session, session.begin():
                results.append(service.ensure_customer(session, external_id="SAME", actor=SYSTEM))
                results.extend(service.ensure_customers(session, external_ids=["BULK-SAME"], actor=SYSTEM).values())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with factory() as session:
        same = session.scalar(select(Customer.id).where(Customer.external_id == "SAME"))
        bulk = session.scalar(select(Customer.id).where(Customer.external_id == "BULK-SAME"))
        assert session.scalar(select(func.count(Customer.id))) == 2
    assert sorted(results) == sorted([same, bulk] * 4)

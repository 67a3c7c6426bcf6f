"""The hook contract end to end with the real ledger: merge moves points, erasure keeps them."""

from __future__ import annotations

import pytest

from loyalist.customers import service
from loyalist.interactions import service as timeline

ledger = pytest.importorskip("loyalist.ledger.service")


def test_merge_moves_points_and_keeps_every_timeline_row(session, actor, make_customer) -> None:
    a = make_customer(external_id="X-A", email="x@example.com")
    b = make_customer(external_id="X-B", phone="+4520123456")
    ledger.earn(session, customer_id=a.id, points=50, source="test", idempotency_key="a1", reason="purchase",
                actor=actor)
    ledger.earn(session, customer_id=b.id, points=100, source="test", idempotency_key="b1", reason="purchase",
                actor=actor)
    rows = timeline.count_for_customer(session, a.id) + timeline.count_for_customer(session, b.id)
    service.merge_customers(session, survivor_id=a.id, duplicate_id=b.id, actor=actor)
    assert ledger.get_balance(session, a.id).available == 150
    assert timeline.count_for_customer(session, a.id) >= rows + 1
    assert timeline.count_for_customer(session, b.id) == 0
    export = service.export_customer(session, a.id)
    assert "points" in export["sections"]
    view = service.customer_360(session, a.id)
    assert "points" in view.sections
    service.erase_customer(session, customer_id=a.id, actor=actor)
    assert ledger.get_balance(session, a.id).available == 150  # amounts survive erasure

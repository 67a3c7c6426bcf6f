"""Purchases: totals, returns (full, partial by lines, by amount), spend windows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalist.errors import Conflict, NotFound, ValidationFailed
from loyalist.purchases import service
from loyalist.purchases.models import Purchase, PurchaseReturn
from loyalist.purchases.schemas import PurchaseLineIn, ReturnLineIn

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _lines() -> list[PurchaseLineIn]:
    return [
        PurchaseLineIn(sku="A", category="coffee", quantity=2, unit_price=Decimal("10.00"), discount=Decimal("2.00")),
        PurchaseLineIn(sku="B", category="tea", quantity=1, unit_price=Decimal("5.50")),
    ]


def test_purchase_totals_from_lines(session, make_customer) -> None:
    cid = make_customer()
    p = service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="eur",
                                lines=_lines(), store="S1", channel="pos")
    assert (p.gross_amount, p.discount_amount, p.net_amount, p.refunded_amount) == (
        Decimal("25.5000"), Decimal("2.0000"), Decimal("23.5000"), Decimal("0.0000"))
    assert p.currency == "EUR"
    assert [line.line_total for line in p.lines] == [Decimal("18.0000"), Decimal("5.5000")]


def test_duplicate_order_ref_conflicts_and_changes_nothing(session, make_customer) -> None:
    cid = make_customer()
    service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="EUR",
                            net_amount=Decimal("10"))
    with pytest.raises(Conflict) as err:
        service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="EUR",
                                net_amount=Decimal("99"))
    assert err.value.field == "order_ref"
    assert session.scalar(select(func.count()).select_from(Purchase)) == 1


def test_partial_return_by_lines_then_rest(session, make_customer) -> None:
    cid = make_customer()
    service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="EUR", lines=_lines())
    r = service.record_return(session, order_ref="O-1", lines=[ReturnLineIn(sku="A", quantity=1)], occurred_at=T0)
    assert (r.amount, r.refunded_amount) == (Decimal("9.0000"), Decimal("9.0000"))
    with pytest.raises(ValidationFailed) as err:
        service.record_return(session, order_ref="O-1", lines=[ReturnLineIn(sku="A", quantity=2)])
    assert err.value.field == "lines[0].quantity"
    rest = service.record_return(session, order_ref="O-1", occurred_at=T0)
    assert (rest.amount, rest.refunded_amount) == (Decimal("14.5000"), Decimal("23.5000"))
    with pytest.raises(ValidationFailed):
        service.record_return(session, order_ref="O-1")
    assert session.scalar(select(func.count()).select_from(PurchaseReturn)) == 2


def test_return_by_amount_is_bounded(session, make_customer) -> None:
    cid = make_customer()
    service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="EUR",
                            net_amount=Decimal("20"))
    with pytest.raises(ValidationFailed) as err:
        service.record_return(session, order_ref="O-1", amount=Decimal("20.01"))
    assert err.value.field == "amount"
    assert service.record_return(session, order_ref="O-1", amount=Decimal("5")).refunded_amount == Decimal("5.0000")
    with pytest.raises(NotFound) as nf:
        service.record_return(session, order_ref="nope", amount=Decimal("1"))
    assert nf.value.field == "order_ref"


def test_spend_in_window_is_net_of_refunds(session, make_customer) -> None:
    cid = make_customer()
    other = make_customer()
    service.record_purchase(session, customer_id=cid, order_ref="O-1", occurred_at=T0, currency="EUR",
                            net_amount=Decimal("20"))
    service.record_purchase(session, customer_id=cid, order_ref="O-2", occurred_at=datetime(2026, 4, 1, tzinfo=UTC),
                            currency="EUR", net_amount=Decimal("7.25"))
    service.record_purchase(session, customer_id=other, order_ref="O-3", occurred_at=T0, currency="EUR",
                            net_amount=Decimal("100"))
    service.record_return(session, order_ref="O-1", amount=Decimal("4.50"))
    assert service.spend_in_window(session, cid, since=datetime(2026, 1, 1, tzinfo=UTC),
                                   until=datetime(2026, 12, 31, tzinfo=UTC)) == Decimal("22.7500")
    assert service.spend_in_window(session, cid, since=datetime(2026, 3, 2, tzinfo=UTC),
                                   until=datetime(2026, 12, 31, tzinfo=UTC)) == Decimal("7.2500")
    page = service.list_purchases(session, cid)
    assert [p.order_ref for p in page.items] == ["O-2", "O-1"] and page.total == 2

"""Helpers for offers tests: customers with values/timezones, purchases with lines, offers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from sqlalchemy import func, select

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.offers import service
from loyalist.offers.schemas import OfferCreate
from loyalist.purchases import service as purchases
from loyalist.purchases.schemas import PurchaseLineIn

_refs = count(1)


def make_customer(session, actor, **fields) -> int:
    data = {"first_name": "Anna", "last_name": "Berg"}
    data.update(fields)
    return customers.create_customer(session, data=CustomerCreate(**data), actor=actor).id


def buy(session, customer_id, items, *, at=None, price="10") -> None:
    """One basket: items are skus or (sku, category) pairs."""
    lines = []
    for item in items:
        sku, category = item if isinstance(item, tuple) else (item, None)
        lines.append(PurchaseLineIn(sku=sku, category=category, quantity=1, unit_price=Decimal(price)))
    purchases.record_purchase(session, customer_id=customer_id, order_ref=f"o-{next(_refs)}", currency="EUR",
                              occurred_at=at or datetime(2026, 1, 5, 12, tzinfo=UTC), lines=lines)


def make_offer(session, actor, **fields):
    data = {"name": "Spring treat", "kind": "generic", "reward_type": "none"}
    data.update(fields)
    return service.create_offer(session, data=OfferCreate(**data), actor=actor)


def count_rows(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0

"""Helpers for campaign tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from loyalist.campaigns import service
from loyalist.campaigns.schemas import CampaignCreate
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.offers import service as offers
from loyalist.offers.schemas import OfferCreate
from loyalist.purchases import service as purchases

_refs = count(1)
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def make_customers(session, actor, n, **fields) -> list[int]:
    return [customers.create_customer(
        session, data=CustomerCreate(first_name=f"C{i}", email=f"c{i}-{next(_refs)}@ex.dk", **fields), actor=actor).id
        for i in range(n)]


def amount_offer(session, actor, value="10"):
    return offers.create_offer(session, data=OfferCreate(name="Ten off", kind="generic", reward_type="amount",
                                                         discount_value=Decimal(value)), actor=actor)


def make_campaign(session, actor, **fields):
    data = {"name": "Win-back May", "control_percent": 50, "seed": "may-2026"}
    data.update(fields)
    return service.create_campaign(session, data=CampaignCreate(**data), actor=actor)


def spend(session, customer_id, amount, at) -> None:
    purchases.record_purchase(session, customer_id=customer_id, order_ref=f"cp-{next(_refs)}", currency="EUR",
                              occurred_at=at, net_amount=Decimal(amount))

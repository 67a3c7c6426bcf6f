"""A synthetic purchase history (analytics.simulate) loaded into the operational tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from loyalist import registry
from loyalist.db import Base


def t(name: str):
    if name not in Base.metadata.tables:
        registry.load_all_models()
    return Base.metadata.tables[name]


def load_history(session, *, n_customers: int = 300, seed: int = 3, days: int | None = None) -> tuple[dict, datetime]:
    """Customers and purchases from the simulator; every 7th purchase is 10% refunded.
    Returns ({simulated id: customer id}, the time of the last purchase)."""
    from loyalist.analytics.simulate import simulate_transactions

    frame = simulate_transactions(n_customers, seed=seed)
    frame = frame[frame["amount"] > 0]
    if days is not None:
        frame = frame[frame["occurred_at"] >= frame["occurred_at"].max() - timedelta(days=days)]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    customers = t("customers")
    ids = {}
    for sim_id in sorted(frame["customer_id"].unique()):
        ids[int(sim_id)] = session.execute(insert(customers).values(
            external_id=f"sim-{sim_id}", status="active", created_at=now, updated_at=now).returning(
            customers.c.id)).scalar_one()
    rows = []
    for i, (cid, when, amount) in enumerate(frame[["customer_id", "occurred_at", "amount"]].itertuples(index=False)):
        net = Decimal(str(amount)).quantize(Decimal("0.01"))
        refunded = (net / 10).quantize(Decimal("0.01")) if i % 7 == 0 else Decimal("0.00")
        rows.append({"customer_id": ids[int(cid)], "order_ref": f"sim-{i}",
                     "occurred_at": when.to_pydatetime().replace(tzinfo=UTC), "currency": "EUR",
                     "gross_amount": net, "discount_amount": Decimal(0), "net_amount": net,
                     "refunded_amount": refunded, "store": None})
    session.execute(insert(t("purchases")), rows)
    session.flush()
    return ids, max(r["occurred_at"] for r in rows)

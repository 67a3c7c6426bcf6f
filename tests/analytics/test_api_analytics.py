"""Dashboard endpoints compute from the operational `purchases` table (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.purchases import service as purchases
from loyalist.staff.schemas import Role


@pytest.fixture
def shop(session, actor) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A buys 2024-01-05 (10) and 2024-02-10 (20, 5 refunded); B buys 2024-01-20 (30); C buys 2024-03-03 (7)."""
    ids = {name: customers.create_customer(session, data=CustomerCreate(external_id=f"ana-{name}"), actor=actor).id
           for name in "ABC"}
    rows = [("A", "ana-1", datetime(2024, 1, 5, 10, tzinfo=UTC), "10"),
            ("A", "ana-2", datetime(2024, 2, 10, 10, tzinfo=UTC), "20"),
            ("B", "ana-3", datetime(2024, 1, 20, 10, tzinfo=UTC), "30"),
            ("C", "ana-4", datetime(2024, 3, 3, 10, tzinfo=UTC), "7")]
    for name, ref, when, amount in rows:
        purchases.record_purchase(session, customer_id=ids[name], order_ref=ref, occurred_at=when, currency="EUR",
                                  net_amount=Decimal(amount))
    purchases.record_return(session, order_ref="ana-2", occurred_at=datetime(2024, 2, 12, tzinfo=UTC),
                            amount=Decimal("5"))
    session.commit()
    return ids


def test_overview_and_retention(client, shop) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/analytics/overview", params={"as_of": "2024-03-31"}).json()
    assert body["customers"] == 3 and body["transactions"] == 4
    assert body["net_revenue"] == pytest.approx(62.0)
    assert body["active_customers_90d"] == 3
    assert body["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert body["retention_rate_last_month"] == 0.0  # Feb buyer (A) did not buy in March
    rows = client.get("/analytics/retention", params={"as_of": "2024-03-31", "period": "month"}).json()["rows"]
    assert [r["active_customers"] for r in rows] == [2, 1, 1]
    assert [r["retention_rate"] for r in rows] == [None, 0.5, 0.0]


def test_cohorts_segments_and_risk(client, shop) -> None:  # type: ignore[no-untyped-def]
    cohorts = client.get("/analytics/cohorts", params={"as_of": "2024-03-31"}).json()["rows"]
    assert cohorts[0] == {"cohort": "2024-01", "months_since_first": 0, "customers": 2, "cohort_size": 2,
                          "retention": 1.0}
    segments = client.get("/analytics/rfm/segments", params={"as_of": "2024-03-31"}).json()["rows"]
    assert sum(s["customers"] for s in segments) == 3
    risk = client.get("/analytics/churn-risk", params={"as_of": "2024-03-31", "limit": 2})
    assert risk.status_code == 200
    rows = risk.json()["rows"]
    assert len(rows) <= 2
    assert all(0 <= r["churn_probability"] <= 1 and r["value_at_risk"] > 0 for r in rows)


def test_empty_database_and_permissions(client, client_as) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/analytics/overview").json()["customers"] == 0
    assert client.get("/analytics/churn-risk").json()["rows"] == []
    assert client_as(Role.agent).get("/analytics/overview").status_code == 403
    assert client_as(Role.analyst).get("/analytics/overview").status_code == 200

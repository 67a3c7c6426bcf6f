"""Dashboard endpoints compute from the operational `purchases` table (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import insert

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
    body = client.get("/v1/analytics/overview", params={"as_of": "2024-03-31"}).json()
    assert body["customers"] == 3 and body["transactions"] == 4
    assert body["net_revenue"] == pytest.approx(62.0)
    assert body["active_customers_90d"] == 3
    assert body["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert body["retention_rate_last_month"] == 0.0  # Feb buyer (A) did not buy in March
    rows = client.get("/v1/analytics/retention", params={"as_of": "2024-03-31", "period": "month"}).json()["rows"]
    assert [r["active_customers"] for r in rows] == [2, 1, 1]
    assert [r["retention_rate"] for r in rows] == [None, 0.5, 0.0]


def test_cohorts_segments_and_risk(client, shop) -> None:  # type: ignore[no-untyped-def]
    cohorts = client.get("/v1/analytics/cohorts", params={"as_of": "2024-03-31"}).json()["rows"]
    assert cohorts[0] == {"cohort": "2024-01", "months_since_first": 0, "customers": 2, "cohort_size": 2,
                          "retention": 1.0}
    segments = client.get("/v1/analytics/rfm/segments", params={"as_of": "2024-03-31"}).json()["rows"]
    assert sum(s["customers"] for s in segments) == 3
    risk = client.get("/v1/analytics/churn-risk", params={"as_of": "2024-03-31", "limit": 2})
    assert risk.status_code == 200
    rows = risk.json()["rows"]
    assert len(rows) <= 2
    assert all(0 <= r["churn_probability"] <= 1 and r["value_at_risk"] > 0 for r in rows)


def test_empty_database_and_permissions(client, client_as) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/analytics/overview").json()["customers"] == 0
    assert client.get("/v1/analytics/churn-risk").json()["rows"] == []
    assert client_as(Role.agent).get("/v1/analytics/overview").status_code == 403
    assert client_as(Role.analyst).get("/v1/analytics/overview").status_code == 200


def _load_history(session) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Three years of simulated purchases of 250 customers in the operational tables (set-based
    inserts: the purchase service's bookkeeping is not what is tested here). Every 9th purchase is
    20% refunded. Returns the purchases as the analytics see them (customer_id, occurred_at, amount)."""
    from loyalist import registry
    from loyalist.analytics.simulate import simulate_transactions
    from loyalist.db import Base

    registry.load_all_models()
    customers_t, purchases_t = Base.metadata.tables["customers"], Base.metadata.tables["purchases"]
    frame = simulate_transactions(250, seed=21)
    frame = frame[frame["amount"] > 0].reset_index(drop=True)
    created = datetime(2021, 12, 1, tzinfo=UTC)
    ids = {int(sim): session.execute(insert(customers_t).values(
        external_id=f"risk-{sim}", status="active", created_at=created, updated_at=created).returning(
        customers_t.c.id)).scalar_one() for sim in sorted(frame["customer_id"].unique())}
    rows, amounts = [], []
    for i, (sim, when, amount) in enumerate(frame[["customer_id", "occurred_at", "amount"]].itertuples(index=False)):
        net = Decimal(str(amount)).quantize(Decimal("0.01"))
        refunded = (net / 5).quantize(Decimal("0.01")) if i % 9 == 0 else Decimal("0.00")
        rows.append({"customer_id": ids[int(sim)], "order_ref": f"risk-{i}",
                     "occurred_at": when.to_pydatetime().replace(tzinfo=UTC), "currency": "EUR",
                     "gross_amount": net, "discount_amount": Decimal(0), "net_amount": net,
                     "refunded_amount": refunded})
        amounts.append(float(net - refunded))
    session.execute(insert(purchases_t), rows)
    session.commit()
    return pd.DataFrame({"customer_id": [r["customer_id"] for r in rows],
                         "occurred_at": frame["occurred_at"].astype("datetime64[us]"), "amount": amounts})


def test_churn_risk_is_the_reports_list_with_reasons(client, session) -> None:  # type: ignore[no-untyped-def]
    import ibis

    from loyalist.analytics.pipeline import AnalysisSettings, analyze

    frame = _load_history(session)
    as_of = frame["occurred_at"].max().date().isoformat()
    resp = client.get("/v1/analytics/churn-risk", params={"as_of": as_of, "limit": 15})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["source"] == "supervised" and body["horizon_days"] == 90
    assert 0.5 < body["model_metrics"]["auc"] <= 1 and 0 <= body["model_metrics"]["precision_at_k"] <= 1
    rows = body["rows"]
    assert len(rows) == 15
    values = [r["value_at_risk"] for r in rows]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    for r in rows:
        assert r["value_at_risk"] == pytest.approx(r["churn_probability"] * r["revenue_last_365"])
        assert 0 <= r["p_alive"] <= 1 and r["segment"]
        for reason in r["reasons"]:
            assert reason["contribution"] > 0 and reason["label"] and reason["text"].startswith(reason["label"])
    assert any(r["reasons"] for r in rows)
    assert body["revenue_at_risk"] >= sum(values)

    # The report (`loyalist analyze`) on the same purchases lists the same customers, scores and reasons.
    report = analyze(ibis.duckdb.connect().create_table("tx", frame),
                     settings=AnalysisSettings(observation_end=as_of, risk_list_size=15))
    assert report.kpis["churn_probability_source"] == "supervised"
    expected = report.risk_list
    assert [r["customer_id"] for r in rows] == expected["customer_id"].tolist()
    assert [r["churn_probability"] for r in rows] == pytest.approx(expected["churn_probability"].tolist())
    assert [r["p_alive"] for r in rows] == pytest.approx(expected["p_alive"].tolist())
    assert ["; ".join(x["text"] for x in r["reasons"]) or "no single driver; overall pattern" for r in rows] == \
        expected["reasons"].tolist()
    assert body["revenue_at_risk"] == pytest.approx(report.kpis["revenue_at_risk"])


def test_churn_risk_falls_back_to_p_alive_on_short_history(client, shop) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/analytics/churn-risk", params={"as_of": "2024-03-31"}).json()
    assert body["source"] in {"1 - P(alive)", "none"}
    assert any("supervised churn model skipped" in n for n in body["notes"])
    for r in body["rows"]:
        assert r["churn_probability"] == pytest.approx(1 - r["p_alive"])
        assert r["reasons"][0]["feature"] == "recency_days"
        assert r["reasons"][0]["value"] == r["days_since_last_purchase"]


@pytest.mark.parametrize("role,allowed", [(Role.admin, True), (Role.manager, True), (Role.analyst, True),
                                          (Role.agent, False), (Role.integration, False)])
def test_churn_risk_needs_analytics_read(client_as, role, allowed) -> None:  # type: ignore[no-untyped-def]
    status = client_as(role).get("/v1/analytics/churn-risk").status_code
    assert status == (200 if allowed else 403)


def test_churn_risk_rejects_bad_parameters(client) -> None:  # type: ignore[no-untyped-def]
    for params in ({"horizon_days": 3}, {"limit": 0}, {"as_of": "not-a-date"}):
        resp = client.get("/v1/analytics/churn-risk", params=params)
        assert resp.status_code == 422
        assert resp.json()["error"]["field"]


def test_rfm_movement_between_two_dates(client, client_as, shop) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/v1/analytics/rfm/movement", params={"from": "2024-01-31", "as_of": "2024-03-31"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["from_date"], body["as_of"]) == ("2024-01-31", "2024-03-31")
    counts = body["counts"]
    assert sum(counts["(not yet a customer)"].values()) == 1  # C's first purchase is in March
    assert sum(n for row in counts.values() for n in row.values()) == 3
    now = client.get("/v1/analytics/rfm/segments", params={"as_of": "2024-03-31"}).json()["rows"]
    arrived: dict[str, int] = {}
    for row in counts.values():
        for segment, n in row.items():
            arrived[segment] = arrived.get(segment, 0) + n
    assert arrived == {s["segment"]: s["customers"] for s in now if s["customers"]}
    bad = client.get("/v1/analytics/rfm/movement", params={"from": "2024-04-01", "as_of": "2024-03-31"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    assert client_as(Role.agent).get("/v1/analytics/rfm/movement", params={"from": "2024-01-31"}).status_code == 403

"""HTTP: a customer's scores, the paginated list, refresh permissions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert

from loyalist.staff.schemas import Role

from .conftest import t

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _seed(session_factory) -> list[int]:
    with session_factory() as s, s.begin():
        c = t("customers")
        ids = [s.execute(insert(c).values(status="active", created_at=NOW, updated_at=NOW).returning(c.c.id))
               .scalar_one() for _ in range(3)]
        s.execute(insert(t("customer_scores")), [
            {"customer_id": cid, "recency_days": 10 * i, "purchase_days": 3, "last_purchase_on": NOW, "rfm_r": 3,
             "rfm_f": 3, "rfm_m": 3, "rfm_score": "333", "rfm_segment": seg, "p_alive": 0.5, "churn_risk": risk,
             "previous_churn_risk": None, "churn_source": "supervised",
             "churn_reasons": [{"feature": "recency_days", "label": "days since last purchase", "value": 40.0,
                                "typical": 12.0, "contribution": 0.2,
                                "text": "days since last purchase: 40 (typical 12, +20 pts)"}],
             "expected_purchases_90d": 0.4, "predicted_clv": Decimal("12.30"), "historical_clv": Decimal("99.99"),
             "model": "BG/NBD + Gamma-Gamma", "computed_at": NOW}
            for i, (cid, seg, risk) in enumerate(zip(ids, ("at risk", "loyal", "at risk"), (0.7, 0.2, 0.9),
                                                     strict=True))])
    return ids


def test_customer_scores_and_list(client, session_factory) -> None:
    ids = _seed(session_factory)
    one = client.get(f"/v1/customers/{ids[0]}/scores")
    assert one.status_code == 200
    body = one.json()
    assert (body["rfm_segment"], body["churn_risk"], body["predicted_clv"], body["historical_clv"]) == (
        "at risk", 0.7, "12.3000", "99.9900")
    assert body["churn_reasons"][0]["text"] == "days since last purchase: 40 (typical 12, +20 pts)"
    page = client.get("/v1/scores", params={"rfm_segment": "at risk", "limit": 1}).json()
    assert (page["total"], [i["customer_id"] for i in page["items"]]) == (2, [ids[2]])
    risky = client.get("/v1/scores", params={"min_churn_risk": 0.5, "order": "customer_id"}).json()
    assert [i["customer_id"] for i in risky["items"]] == [ids[0], ids[2]]
    assert client.get("/v1/customers/999999/scores").status_code == 404
    assert client.get("/v1/scores", params={"min_churn_risk": 2}).status_code == 422


def test_refresh_permissions(client_as, session_factory) -> None:
    _seed(session_factory)
    assert client_as(Role.agent).post("/v1/scores/refresh").status_code == 403
    assert client_as(Role.agent).get("/v1/scores").status_code == 200
    resp = client_as(Role.analyst).post("/v1/scores/refresh", json={"churn_horizon_days": 90})
    assert resp.status_code == 200
    # no purchases: every stale row is removed
    assert (resp.json()["customers"], resp.json()["removed"]) == (0, 3)
    assert client_as(Role.analyst).get("/v1/scores").json()["total"] == 0

"""HTTP: tier CRUD, a customer's tier view, re-evaluation, roles and error shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.purchases import service as purchases
from loyalist.staff.schemas import Role
from loyalist.tiers import service

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SILVER = {"code": "silver", "name": "Silver", "rank": 1, "metric": "spend", "window_days": 365,
          "threshold": "100", "multiplier": "1.25", "benefits": ["free coffee"], "grace_days": 30}


def _field(resp) -> str | None:
    field = resp.json()["error"].get("field")
    return field.split(".")[-1] if field else None


def test_crud(client) -> None:
    created = client.post("/v1/tiers", json=SILVER)
    assert created.status_code == 201
    tier = created.json()
    assert (tier["code"], Decimal(tier["multiplier"]), tier["benefits"], tier["active"]) == (
        "silver", Decimal("1.25"), ["free coffee"], True)
    assert [t["code"] for t in client.get("/v1/tiers").json()] == ["silver"]
    patched = client.patch(f"/v1/tiers/{tier['id']}", json={"threshold": "150"})
    assert (patched.status_code, Decimal(patched.json()["threshold"])) == (200, Decimal("150"))
    retired = client.delete(f"/v1/tiers/{tier['id']}")
    assert (retired.status_code, retired.json()["active"]) == (200, False)
    assert client.get("/v1/tiers", params={"active": "true"}).json() == []
    assert client.get(f"/v1/tiers/{tier['id']}").json()["active"] is False


def test_errors_name_fields_and_change_nothing(client) -> None:
    client.post("/v1/tiers", json=SILVER)
    dup = client.post("/v1/tiers", json={**SILVER, "rank": 5})
    assert (dup.status_code, dup.json()["error"]["code"], _field(dup)) == (409, "conflict", "code")
    bad = client.post("/v1/tiers", json={**SILVER, "code": "gold", "rank": 2, "threshold": "-1"})
    assert (bad.status_code, _field(bad)) == (422, "threshold")
    bad = client.post("/v1/tiers", json={**SILVER, "code": "gold", "rank": 2, "metric": "visits"})
    assert (bad.status_code, _field(bad)) == (422, "metric")
    missing = client.get("/v1/tiers/999999")
    assert (missing.status_code, _field(missing)) == (404, "tier_id")
    assert [t["code"] for t in client.get("/v1/tiers").json()] == ["silver"]


def test_roles(client, client_as) -> None:
    analyst, agent = client_as(Role.analyst), client_as(Role.agent)
    assert analyst.post("/v1/tiers", json=SILVER).status_code == 403
    assert agent.post("/v1/tiers/reevaluate").status_code == 403
    assert client.get("/v1/tiers").json() == []
    assert analyst.get("/v1/tiers").status_code == 200
    manager = client_as(Role.manager)
    assert manager.post("/v1/tiers", json=SILVER).status_code == 201


def test_customer_tier_view_and_reevaluate(client, session_factory, actor) -> None:
    client.post("/v1/tiers", json=SILVER)
    with session_factory() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Vi"), actor=actor).id
        purchases.record_purchase(s, customer_id=cid, order_ref="API-1", occurred_at=T0, currency="EUR",
                                  net_amount=Decimal("120"))
        service.evaluate_customer(s, customer_id=cid, actor=actor, as_of=T0 + timedelta(hours=1))
    view = client.get(f"/v1/customers/{cid}/tier").json()
    assert view["status"]["code"] == "silver"
    assert view["progress"]["next_code"] is None
    assert [h["reason"] for h in view["history"]] == ["upgrade"]

    as_of = T0 + timedelta(days=400)
    result = client.post("/v1/tiers/reevaluate", json={"as_of": as_of.isoformat()})
    assert result.status_code == 200
    assert (result.json()["evaluated"], result.json()["grace_started"]) == (1, 1)
    view = client.get(f"/v1/customers/{cid}/tier").json()
    assert datetime.fromisoformat(view["status"]["grace_until"]) == as_of + timedelta(days=30)

    missing = client.get("/v1/customers/999999/tier")
    assert (missing.status_code, _field(missing)) == (404, "customer_id")


def test_naive_instants_are_refused_naming_the_field(client) -> None:
    resp = client.post("/v1/tiers/reevaluate", json={"as_of": "2026-01-01T00:00:00"})
    assert (resp.status_code, _field(resp)) == (422, "as_of")
    resp = client.post("/v1/rewards", json={"kind": "gift", "name": "x", "cost_points": 1,
                                            "valid_from": "2026-01-01T00:00:00"})
    assert (resp.status_code, _field(resp)) == (422, "valid_from")
    assert client.get("/v1/rewards").json() == []

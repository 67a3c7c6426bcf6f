"""REST for offers and campaigns: an end-to-end flow, errors naming fields, permissions."""

from __future__ import annotations

from decimal import Decimal

from fastapi.routing import APIRoute

from loyalist.api.deps import permission_of
from loyalist.api.permissions import roles_for
from loyalist.api.routes import campaigns as campaign_routes
from loyalist.api.routes import offers as offer_routes
from loyalist.staff.schemas import Role


def _customer(client, name, **extra) -> int:
    r = client.post("/v1/customers", json={"first_name": name, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_offer_and_campaign_flow_over_http(client):
    ids = [_customer(client, f"P{i}", values=["discounts"]) for i in range(8)]
    r = client.post("/v1/offers", json={"name": "Five off", "kind": "generic", "reward_type": "amount",
                                         "discount_value": "5"})
    assert r.status_code == 201, r.text
    offer_id = r.json()["id"]
    r = client.post("/v1/campaigns", json={"name": "Test", "customer_ids": ids, "offer_id": offer_id,
                                            "control_percent": 25, "seed": "api", "margin": "0.4"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["status"] == "draft"
    r = client.post(f"/v1/campaigns/{cid}/launch")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["treatment"], body["control"], body["already_launched"]) == (6, 2, False)
    assert client.post(f"/v1/campaigns/{cid}/launch").json()["already_launched"] is True
    treated = [m["customer_id"] for m in client.get(f"/v1/campaigns/{cid}/members?group=treatment").json()]
    assert len(treated) == 6
    offers = client.get(f"/v1/customers/{treated[0]}/offers").json()
    assert len(offers) == 1 and offers[0]["issue"]["variant"] == "discount"
    code = offers[0]["issue"]["code"]
    r = client.post(f"/v1/offer-codes/{code}/redeem", json={"order_ref": "R1"})
    assert r.status_code == 200 and Decimal(r.json()["cost"]) == Decimal("5")
    r = client.post(f"/v1/offer-codes/{code}/redeem", json={})
    assert r.status_code in (409, 422)
    assert r.json()["error"]["field"] == "code"
    res = client.get(f"/v1/campaigns/{cid}/results").json()
    assert (res["treatment"]["customers"], res["control"]["customers"]) == (6, 2)
    assert Decimal(res["offer_cost"]) == Decimal("5.00")
    assert res["complete"] is False


def test_errors_name_the_field(client):
    r = client.post("/v1/offers", json={"name": "Bad", "kind": "generic", "reward_type": "percent"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "discount_value"
    r = client.post("/v1/campaigns", json={"name": "No audience", "offer_id": 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "segment_id"
    assert client.get("/v1/campaigns/999999").status_code == 404
    assert client.get("/v1/offers").json() == []
    assert client.get("/v1/campaigns").json() == []


def test_every_endpoint_declares_its_reserved_permission():
    perms = {permission_of(route) for router in (offer_routes.router, campaign_routes.router)
             for route in router.routes if isinstance(route, APIRoute)}
    assert perms == {"offers:read", "offers:write", "campaigns:read", "campaigns:write"}


def test_reader_cannot_launch(client_as, client):
    ids = [_customer(client, "Q")]
    offer_id = client.post("/v1/offers", json={"name": "x", "kind": "generic"}).json()["id"]
    cid = client.post("/v1/campaigns", json={"name": "c", "customer_ids": ids, "offer_id": offer_id}).json()["id"]
    roles = roles_for("campaigns:write")
    weakest = next(r for r in Role if r not in roles)
    r = client_as(weakest).post(f"/v1/campaigns/{cid}/launch")
    assert r.status_code == 403
    assert client.get(f"/v1/campaigns/{cid}").json()["status"] == "draft"

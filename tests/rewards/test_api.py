"""HTTP: catalogue, redemption, the till flow (validate, consume), cancel, roles, error shapes."""

from __future__ import annotations

import pytest

from loyalist.staff.schemas import Role

from .conftest import balance, make_customer

GIFT = {"kind": "gift", "name": "Tote bag", "cost_points": 300, "stock": 3}


def _field(resp) -> str | None:
    field = resp.json()["error"].get("field")
    return field.split(".")[-1] if field else None


@pytest.fixture
def customer(session_factory, actor) -> int:
    with session_factory() as s, s.begin():
        return make_customer(s, actor, points=1000)


def _balance(session_factory, cid) -> int:
    with session_factory() as s:
        return balance(s, cid)


def test_catalogue_crud(client) -> None:
    created = client.post("/v1/rewards", json=GIFT)
    assert created.status_code == 201
    rid = created.json()["id"]
    assert (created.json()["stock"], created.json()["redeemed_count"]) == (3, 0)
    patched = client.patch(f"/v1/rewards/{rid}", json={"stock": None, "name": "Big tote"})
    assert (patched.json()["stock"], patched.json()["name"]) == (None, "Big tote")
    assert client.delete(f"/v1/rewards/{rid}").json()["active"] is False
    assert client.get("/v1/rewards", params={"active": "true"}).json() == []
    assert [r["id"] for r in client.get("/v1/rewards").json()] == [rid]


def test_catalogue_errors_name_fields(client) -> None:
    bad = client.post("/v1/rewards", json={**GIFT, "kind": "discount_percent"})
    assert (bad.status_code, bad.json()["error"]["code"], _field(bad)) == (422, "validation_failed", "value")
    bad = client.post("/v1/rewards", json={**GIFT, "cost_points": 0})
    assert (bad.status_code, _field(bad)) == (422, "cost_points")
    bad = client.post("/v1/rewards", json={**GIFT, "kind": "castle"})
    assert (bad.status_code, _field(bad)) == (422, "kind")
    rid = client.post("/v1/rewards", json=GIFT).json()["id"]
    bad = client.patch(f"/v1/rewards/{rid}", json={"name": None})
    assert (bad.status_code, _field(bad)) == (422, "name")
    assert client.get(f"/v1/rewards/{rid}").json()["name"] == "Tote bag"
    assert (client.get("/v1/rewards/999999").status_code, _field(client.get("/v1/rewards/999999"))) == (
        404, "reward_id")
    assert len(client.get("/v1/rewards").json()) == 1


def test_redeem_validate_consume_flow(client, client_as, customer, session_factory) -> None:
    rid = client.post("/v1/rewards", json=GIFT).json()["id"]
    assert [r["id"] for r in client.get("/v1/rewards", params={"eligible_for": customer}).json()] == [rid]
    red = client.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": rid},
                      headers={"Idempotency-Key": "pos-1"})
    assert red.status_code == 201
    body = red.json()
    code = body["voucher"]["code"]
    again = client.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": rid},
                        headers={"Idempotency-Key": "pos-1"})
    assert again.json() == body
    assert _balance(session_factory, customer) == 700
    assert [v["code"] for v in client.get(f"/v1/customers/{customer}/vouchers").json()] == [code]
    assert client.get(f"/v1/customers/{customer}/vouchers", params={"status": "consumed"}).json() == []

    check = client.get(f"/v1/vouchers/{code.lower()}")
    assert (check.status_code, check.json()["usable"], check.json()["reward"]["id"]) == (200, True, rid)

    analyst = client_as(Role.analyst)
    denied = analyst.post(f"/v1/vouchers/{code}/consume", json={"store": "CPH"})
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "permission_denied")
    assert client.get(f"/v1/vouchers/{code}").json()["status"] == "issued"

    till = client_as(Role.integration)
    used = till.post(f"/v1/vouchers/{code}/consume", json={"store": "CPH", "order_ref": "R-1"})
    assert (used.status_code, used.json()["status"], used.json()["store"]) == (200, "consumed", "CPH")
    twice = till.post(f"/v1/vouchers/{code}/consume")
    assert (twice.status_code, twice.json()["error"]["code"], _field(twice)) == (409, "invalid_state", "code")

    cancel = client.post(f"/v1/redemptions/{body['id']}/cancel", json={"reason": "too late"})
    assert (cancel.status_code, _field(cancel)) == (409, "redemption_id")
    assert _balance(session_factory, customer) == 700


def test_redeem_errors(client, customer, session_factory) -> None:
    rid = client.post("/v1/rewards", json={**GIFT, "cost_points": 5000}).json()["id"]
    no_key = client.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": rid})
    assert (no_key.status_code, _field(no_key)) == (422, "idempotency_key")
    poor = client.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": rid, "idempotency_key": "x"})
    assert (poor.status_code, poor.json()["error"]["code"]) == (409, "insufficient_points")
    unknown = client.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": 999999,
                                                                         "idempotency_key": "y"})
    assert (unknown.status_code, _field(unknown)) == (404, "reward_id")
    nobody = client.post("/v1/customers/999999/redemptions", json={"reward_id": rid, "idempotency_key": "z"})
    assert (nobody.status_code, _field(nobody)) == (404, "customer_id")
    assert client.get(f"/v1/customers/{customer}/vouchers").json() == []
    assert client.get(f"/v1/rewards/{rid}").json()["stock"] == 3
    assert _balance(session_factory, customer) == 1000
    bad_code = client.get("/v1/vouchers/NOT-A-CODE")
    assert (bad_code.status_code, _field(bad_code)) == (422, "code")


def test_cancel_refunds(client, client_as, customer, session_factory) -> None:
    rid = client.post("/v1/rewards", json=GIFT).json()["id"]
    agent = client_as(Role.agent)
    red = agent.post(f"/v1/customers/{customer}/redemptions", json={"reward_id": rid, "idempotency_key": "c1"})
    assert red.status_code == 201
    assert client_as(Role.analyst).post(f"/v1/redemptions/{red.json()['id']}/cancel").status_code == 403
    done = agent.post(f"/v1/redemptions/{red.json()['id']}/cancel")
    assert (done.status_code, done.json()["status"], done.json()["voucher"]["status"]) == (200, "cancelled", "void")
    assert _balance(session_factory, customer) == 1000
    assert client.get(f"/v1/rewards/{rid}").json()["stock"] == 3
    assert client.get(f"/v1/redemptions/{red.json()['id']}").json()["status"] == "cancelled"
    missing = client.get("/v1/redemptions/999999")
    assert (missing.status_code, _field(missing)) == (404, "redemption_id")
    assert client.post("/v1/vouchers/expire").json()["expired"] == 0

"""HTTP: status codes, replay, 404 naming the field, batch all-or-nothing, roles, purchases list."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalist.events.models import Event
from loyalist.purchases.models import Purchase
from loyalist.staff.schemas import Role


@pytest.fixture
def customer_id(client) -> int:
    resp = client.post("/v1/events/dry-run", json={})  # warm-up: schema errors are 422
    assert resp.status_code == 422
    from tests.conftest import STAFF_ACTOR

    from loyalist.customers import service as customers

    factory = client.app.state.session_factory
    with factory() as s, s.begin():
        return customers.ensure_customer(s, external_id="api-cust", actor=STAFF_ACTOR)


def _purchase(key: str, cid: int, net: str = "25.00") -> dict:
    return {"type": "purchase", "idempotency_key": key, "customer_id": cid, "order_ref": f"O-{key}",
            "net_amount": net, "currency": "EUR", "occurred_at": "2026-01-05T10:00:00Z"}


@pytest.fixture
def per_euro_rule(client) -> dict:
    resp = client.post("/v1/rules", json={"name": "1 per EUR", "kind": "points_per_amount"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _count(client, model) -> int:
    with client.app.state.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_post_event_201_then_replay_200_then_conflict_409(client, customer_id, per_euro_rule) -> None:
    first = client.post("/v1/events", json=_purchase("k1", customer_id))
    assert first.status_code == 201, first.text
    assert (first.json()["points"], first.json()["replayed"]) == (25, False)
    again = client.post("/v1/events", json=_purchase("k1", customer_id))
    assert again.status_code == 200
    assert again.json()["replayed"] is True and again.json()["event_id"] == first.json()["event_id"]
    clash = client.post("/v1/events", json=_purchase("k1", customer_id, net="26.00"))
    assert clash.status_code == 409
    assert clash.json()["error"]["field"] == "idempotency_key"
    assert _count(client, Event) == 1
    listed = client.get(f"/v1/events?customer_id={customer_id}").json()
    assert [e["idempotency_key"] for e in listed["items"]] == ["k1"]
    purchases = client.get(f"/v1/customers/{customer_id}/purchases").json()
    assert [p["order_ref"] for p in purchases["items"]] == ["O-k1"]


def test_unknown_customer_is_404_naming_the_field(client, per_euro_rule) -> None:
    resp = client.post("/v1/events", json=_purchase("k1", 999_999))
    assert resp.status_code == 404
    assert resp.json()["error"]["field"] == "customer_id"
    body = {**_purchase("k2", 1), "customer_external_id": "nobody"}
    del body["customer_id"]
    resp = client.post("/v1/events", json=body)
    assert resp.status_code == 404
    assert resp.json()["error"]["field"] == "customer_external_id"
    assert _count(client, Event) == 0 and _count(client, Purchase) == 0


def test_batch_is_all_or_nothing_and_names_index_and_field(client, customer_id, per_euro_rule) -> None:
    items = [_purchase("b1", customer_id), _purchase("b2", customer_id, net="-5"), _purchase("b3", 424242)]
    resp = client.post("/v1/events/batch", json={"events": items})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["committed"], body["created"], body["failed"]) == (False, 0, 2)
    assert [(i["index"], i["ok"]) for i in body["items"]] == [(0, True), (1, False), (2, False)]
    assert body["items"][1]["error"]["field"] == "net_amount"
    assert body["items"][2]["error"]["field"] == "customer_id"
    assert _count(client, Event) == 0
    good = client.post("/v1/events/batch", json={"events": items[:1] + [_purchase("b4", customer_id, "3")]}).json()
    assert (good["committed"], good["created"], good["replayed"]) == (True, 2, 0)
    replay = client.post("/v1/events/batch", json={"events": items[:1]}).json()
    assert (replay["committed"], replay["created"], replay["replayed"]) == (True, 0, 1)
    assert replay["items"][0]["status"] == 200
    assert _count(client, Event) == 2
    too_many = client.post("/v1/events/batch", json={"events": [items[0]] * 1001})
    assert too_many.status_code == 422


def test_dry_run_over_http_writes_nothing(client, customer_id, per_euro_rule) -> None:
    resp = client.post("/v1/events/dry-run", json=_purchase("d1", customer_id, net="9.99"))
    assert resp.status_code == 200
    assert (resp.json()["points"], resp.json()["dry_run"]) == (9, True)
    assert resp.json()["rules"][0]["arithmetic"] == "floor((9.99) EUR / 1) x 1 = 9"
    assert _count(client, Event) == 0 and _count(client, Purchase) == 0


def test_roles(client_as, customer_id, per_euro_rule) -> None:
    analyst = client_as(Role.analyst)
    assert analyst.post("/v1/events", json=_purchase("r1", customer_id)).status_code == 403
    assert analyst.post("/v1/events/dry-run", json=_purchase("r1", customer_id)).status_code == 200
    assert analyst.get("/v1/rules").status_code == 200
    assert analyst.post("/v1/rules", json={"name": "x", "kind": "points_per_amount"}).status_code == 403
    agent = client_as(Role.agent)
    assert agent.post("/v1/events", json=_purchase("r1", customer_id)).status_code == 403
    assert agent.patch(f"/v1/rules/{per_euro_rule['id']}", json={"priority": 3}).status_code == 403
    integration = client_as(Role.integration)
    assert integration.post("/v1/events", json=_purchase("r1", customer_id)).status_code == 201
    assert integration.post("/v1/rules", json={"name": "x", "kind": "points_per_amount"}).status_code == 403
    manager = client_as(Role.manager)
    assert manager.patch(f"/v1/rules/{per_euro_rule['id']}", json={"priority": 3}).json()["priority"] == 3


def test_rules_crud(client) -> None:
    created = client.post("/v1/rules", json={
        "name": "double coffee", "kind": "multiplier", "params": {"factor": "2"},
        "conditions": {"categories": ["coffee"], "weekdays": ["mon"]}, "priority": 5,
        "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z"}).json()
    assert created["conditions"] == {"categories": ["coffee"], "weekdays": ["mon"]}
    assert client.get(f"/v1/rules/{created['id']}").json()["name"] == "double coffee"
    bad = client.post("/v1/rules", json={"name": "x", "kind": "multiplier", "conditions": {"colour": "red"}})
    assert bad.status_code == 422
    assert client.get("/v1/rules/999999").status_code == 404
    assert client.delete(f"/v1/rules/{created['id']}").status_code == 200
    assert client.get(f"/v1/rules/{created['id']}").status_code == 404

"""REST: the recovery flow end to end, filters and pagination, retrying a compensation, config
endpoints, flags, and the role boundaries of the reserved permissions."""

from __future__ import annotations

from loyalist.staff.schemas import Role

from .conftest import make_customer, make_staff


def _customer(client) -> int:
    response = client.post("/v1/customers", json={"first_name": "Ida", "last_name": "Holm"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _open(client, customer_id: int, **extra) -> dict:
    body = {"customer_id": customer_id, "channel": "email", "category": "billing", "subject": "Double charge",
            "description": "Charged twice for order 17"} | extra
    response = client.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_recovery_flow_over_http(client) -> None:
    customer = _customer(client)
    case = _open(client, customer)
    cid = case["id"]
    assert (case["state"], case["allowed_transitions"]) == ("new", ["acknowledged"])
    refused = client.post(f"/v1/cases/{cid}/resolve", json={"resolution": "x"})
    assert refused.status_code == 409
    assert refused.json()["error"]["field"] == "to"
    assert client.get(f"/v1/cases/{cid}").json()["state"] == "new"
    assert client.post(f"/v1/cases/{cid}/acknowledge", json={"text": "We are sorry"}).json()["state"] == \
        "acknowledged"
    assert client.post(f"/v1/cases/{cid}/actions", json={"description": "Refund started"}).status_code == 201
    headers = {"Idempotency-Key": "goodwill-1"}
    body = {"kind": "points", "points": 300, "description": "For the trouble"}
    first = client.post(f"/v1/cases/{cid}/compensations", json=body, headers=headers)
    retry = client.post(f"/v1/cases/{cid}/compensations", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    assert client.get(f"/v1/customers/{customer}/points").json()["available"] == 300
    assert client.post(f"/v1/cases/{cid}/transition", json={"to": "in_progress"}).json()["state"] == "in_progress"
    assert client.post(f"/v1/cases/{cid}/resolve", json={"resolution": "Refunded"}).json()["state"] == "resolved"
    followed = client.post(f"/v1/cases/{cid}/follow-up", json={"csat": 5, "comment": "Great"}).json()
    assert (followed["state"], followed["csat"], followed["suggest_reopen"]) == ("follow_up_done", 5, False)
    assert client.post(f"/v1/cases/{cid}/transition", json={"to": "closed"}).json()["state"] == "closed"
    assert client.post(f"/v1/cases/{cid}/comments", json={"text": "Good outcome"}).status_code == 201
    kinds = [e["kind"] for e in client.get(f"/v1/cases/{cid}/events").json()]
    assert kinds == ["opened", "acknowledged", "transition", "action", "compensation", "transition", "transition",
                     "follow_up", "transition", "transition", "comment"]
    assert [a["kind"] for a in client.get(f"/v1/cases/{cid}/actions").json()] == ["action", "points"]


def test_filters_and_pagination(client) -> None:
    customer = _customer(client)
    ids = [_open(client, customer, severity=s, category=c)["id"]
           for s, c in (("low", "billing"), ("normal", "delivery"), ("low", "delivery"))]
    page = client.get("/v1/cases", params={"customer_id": customer, "limit": 2}).json()
    assert (page["total"], [c["id"] for c in page["items"]]) == (3, [ids[2], ids[1]])
    page2 = client.get("/v1/cases", params={"customer_id": customer, "limit": 2, "offset": 2}).json()
    assert [c["id"] for c in page2["items"]] == [ids[0]]
    low = client.get("/v1/cases", params={"customer_id": customer, "severity": "low"}).json()
    assert [c["id"] for c in low["items"]] == [ids[2], ids[0]]
    delivery_low = client.get("/v1/cases", params={"customer_id": customer, "severity": "low",
                                                   "category": "delivery", "state": "new"}).json()
    assert [c["id"] for c in delivery_low["items"]] == [ids[2]]
    assert client.get("/v1/cases", params={"customer_id": customer, "breached": True}).json()["total"] == 0
    assert client.get("/v1/cases", params={"state": "sleeping"}).status_code == 422


def test_bad_input_names_the_field(client) -> None:
    customer = _customer(client)
    response = client.post("/v1/cases", json={"customer_id": customer, "channel": "email", "category": "weather",
                                              "subject": "x", "description": "y"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "category"
    assert client.get("/v1/cases", params={"customer_id": customer}).json()["total"] == 0
    cid = _open(client, customer)["id"]
    bad = client.post(f"/v1/cases/{cid}/follow-up", json={"csat": 9})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "csat"


def test_configuration_endpoints(client) -> None:
    policies = {p["name"]: p for p in client.get("/v1/case-config/sla-policies").json()}
    assert policies["critical"] == {"name": "critical", "first_response_minutes": 30, "resolution_minutes": 480,
                                    "configured": False}
    changed = client.put("/v1/case-config/sla-policies/low",
                         json={"first_response_minutes": 120, "resolution_minutes": 960}).json()
    assert (changed["first_response_minutes"], changed["configured"]) == (120, True)
    assert client.delete("/v1/case-config/sla-policies/low").json()["first_response_minutes"] == 480
    assert client.put("/v1/case-config/sla-policies/urgent",
                      json={"first_response_minutes": 1, "resolution_minutes": 2}).status_code == 404
    cal = client.post("/v1/case-config/calendar/holidays", json={"day": "2026-12-25", "name": "Christmas"}).json()
    assert cal["holidays"] == [{"day": "2026-12-25", "name": "Christmas"}]
    assert client.post("/v1/case-config/calendar/holidays",
                       json={"day": "2026-12-25", "name": "Again"}).status_code == 409
    assert client.delete("/v1/case-config/calendar/holidays/2026-12-25").json()["holidays"] == []
    hours = client.put("/v1/case-config/calendar/hours", json={"intervals": [
        {"weekday": 0, "opens": "08:00", "closes": "16:00"}]}).json()
    assert (hours["configured"], hours["intervals"]) == (True, [{"weekday": 0, "opens": "08:00", "closes": "16:00"}])
    cat = client.put("/v1/case-config/categories", json={"code": "returns", "name": "Returns"}).json()
    assert cat == {"code": "returns", "name": "Returns", "active": True}
    codes = [c["code"] for c in client.get("/v1/case-config/categories").json()]
    assert codes == ["product", "service", "delivery", "billing", "staff", "other", "returns"]
    rule = client.put("/v1/case-config/routing-rules", json={"category": "returns", "team": "returns desk"}).json()
    assert client.get("/v1/case-config/routing-rules").json() == [rule]
    assert client.delete(f"/v1/case-config/routing-rules/{rule['id']}").status_code == 204
    assert client.get("/v1/case-config/routing-rules").json() == []


def test_flags_over_http(client, client_as, session_factory, actor) -> None:
    with session_factory() as s, s.begin():
        anna = make_staff(s, actor, name="Anna")
        customer = make_customer(s, actor)
    agent = client_as(Role.agent)
    flag = agent.post("/v1/flags", json={"customer_id": customer, "reason_code": "angry_or_upset",
                                         "staff_id": anna, "note": "Raised voice"})
    assert flag.status_code == 201, flag.text
    fid = flag.json()["id"]
    assert agent.post(f"/v1/flags/{fid}/confirm").status_code == 403
    assert [f["id"] for f in client.get("/v1/flags", params={"status": "open"}).json()["items"]] == [fid]
    assert client.get(f"/v1/customers/{customer}/flag-summary").json()["open_flags"] == 1
    manager = client_as(Role.manager)
    assert manager.post(f"/v1/flags/{fid}/confirm", json={"note": "Yes"}).json()["status"] == "confirmed"
    board = manager.get("/v1/flags/leaderboard").json()
    assert board == [{"staff_id": anna, "name": "Anna", "points": 10, "confirmed_flags": 1}]
    assert manager.post(f"/v1/flags/{fid}/dismiss").status_code == 409


def test_role_boundaries(client, client_as) -> None:
    customer = _customer(client)
    cid = _open(client, customer)["id"]
    analyst = client_as(Role.analyst)
    assert analyst.get("/v1/cases").status_code == 403
    agent = client_as(Role.agent)
    assert agent.get(f"/v1/cases/{cid}").status_code == 200
    assert agent.put("/v1/case-config/sla-policies/low",
                     json={"first_response_minutes": 1, "resolution_minutes": 2}).status_code == 403
    assert agent.post("/v1/cases/scan-breaches").status_code == 403
    integration = client_as(Role.integration)
    assert integration.post(f"/v1/cases/{cid}/compensations", json={
        "kind": "points", "points": 5, "description": "x", "compensation_id": "i"}).status_code == 403
    assert client.get(f"/v1/customers/{customer}/points").json()["available"] == 0


def test_out_of_range_ids_and_nul_text_are_clean_errors(client) -> None:
    huge = 2**63
    assert client.get(f"/v1/cases/{huge}").status_code == 404
    bad = client.post("/v1/cases", json={"customer_id": huge, "channel": "email", "category": "billing",
                                         "subject": "x", "description": "y"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "customer_id")
    assert client.get("/v1/cases", params={"assignee_id": huge}).json()["error"]["field"] == "assignee_id"
    assert client.post(f"/v1/flags/{huge}/confirm").status_code == 404
    customer = _customer(client)
    nul = client.post("/v1/cases", json={"customer_id": customer, "channel": "email", "category": "billing",
                                         "subject": "x\x00", "description": "y"})
    assert (nul.status_code, nul.json()["error"]["field"]) == (422, "subject")
    assert client.get("/v1/cases", params={"customer_id": customer}).json()["total"] == 0

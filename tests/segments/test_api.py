"""HTTP: preview, CRUD, members, static lists, snapshots, export, roles and error shapes."""

from __future__ import annotations

import csv
import io

from loyalist import clock
from loyalist.staff.schemas import Role

from .conftest import NOW

VIP = {"field": "tag", "op": "eq", "value": "vip"}


def test_preview_and_field_catalogue(client, people) -> None:
    fields = client.get("/v1/segments/fields").json()
    names = [f["name"] for f in fields]
    assert {"tag", "spend", "churn_risk", "nps_category", "last_purchase_days"} <= set(names)
    spend = next(f for f in fields if f["name"] == "spend")
    assert (spend["type"], spend["window_days"], "between" in spend["ops"]) == ("money", True, True)
    resp = client.post("/v1/segments/preview", json={"rule": {"any": [VIP, {"field": "locale", "op": "eq",
                                                                             "value": "ru"}]},
                                                     "as_of": NOW.isoformat()})
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 3
    assert [s["id"] for s in body["sample"]] == sorted([people["A"], people["B"], people["E"]])


def test_invalid_rule_is_a_422_naming_the_path(client, people) -> None:
    resp = client.post("/v1/segments/preview", json={"rule": {"all": [VIP, {"field": "spend", "op": "ge",
                                                                            "value": "lots"}]}})
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert (err["field"], err["message"]) == ("rule.all[1].value", "rule.all[1].value: expected a number")
    created = client.post("/v1/segments", json={"name": "Broken", "rule": {"all": [{"field": "nope"}]}})
    assert created.status_code == 422
    assert client.get("/v1/segments").json() == []


def test_segment_lifecycle_over_http(client, people) -> None:
    with clock.frozen_at(NOW):
        created = client.post("/v1/segments", json={"name": "VIPs", "rule": VIP})
        assert created.status_code == 201
        sid = created.json()["id"]
        assert client.get(f"/v1/segments/{sid}/count").json() == {"segment_id": sid, "count": 2}
        page = client.get(f"/v1/segments/{sid}/members", params={"limit": 1, "offset": 1}).json()
        assert page == {"items": [people["E"]], "total": 2, "limit": 1, "offset": 1}
        patched = client.patch(f"/v1/segments/{sid}", json={"description": "top customers"})
        assert patched.json()["description"] == "top customers"
        snap = client.post(f"/v1/segments/{sid}/snapshots", json={"note": "march"})
        assert (snap.status_code, snap.json()["member_count"]) == (201, 2)
        assert [s["id"] for s in client.get(f"/v1/segments/{sid}/snapshots").json()] == [snap.json()["id"]]
        exported = client.get(f"/v1/segments/{sid}/export.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert [r[0] for r in rows] == ["customer_id", str(people["A"]), str(people["E"])]
        assert client.delete(f"/v1/segments/{sid}").json()["archived"] is True
    assert client.get("/v1/segments/999999").status_code == 404


def test_static_list_over_http(client, people) -> None:
    sid = client.post("/v1/segments", json={"name": "Picked", "kind": "static"}).json()["id"]
    added = client.post(f"/v1/segments/{sid}/members", json={"customer_ids": [people["A"], people["C"]]})
    assert added.json() == {"segment_id": sid, "added": 2, "removed": 0, "unknown": [], "members": 2}
    bad = client.post(f"/v1/segments/{sid}/members", json={"customer_ids": [people["B"], 424242]})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "customer_ids[1]")
    imported = client.post(f"/v1/segments/{sid}/members/import", json={"external_ids": ["ext-b", "zzz"]})
    assert (imported.json()["added"], imported.json()["unknown"]) == (1, ["zzz"])
    removed = client.post(f"/v1/segments/{sid}/members/remove", json={"customer_ids": [people["A"]]})
    assert removed.json()["members"] == 2
    assert client.get(f"/v1/segments/{sid}/members").json()["items"] == sorted([people["B"], people["C"]])


def test_roles(client_as, people) -> None:
    analyst, agent, manager = client_as(Role.analyst), client_as(Role.agent), client_as(Role.manager)
    assert analyst.post("/v1/segments/preview", json={"rule": VIP}).status_code == 200
    assert analyst.post("/v1/segments", json={"name": "x", "rule": VIP}).status_code == 403
    assert agent.post("/v1/segments", json={"name": "x", "rule": VIP}).status_code == 403
    sid = manager.post("/v1/segments", json={"name": "x", "rule": VIP}).json()["id"]
    assert analyst.get(f"/v1/segments/{sid}/export.csv").status_code == 403
    assert manager.get(f"/v1/segments/{sid}/export.csv").status_code == 200
    assert analyst.get("/v1/segments").json()[0]["id"] == sid

"""HTTP contract of /v1/customers: happy paths, error bodies naming fields, and role checks."""

from __future__ import annotations

from loyalist.staff.schemas import Role


def _create(client, **body):  # noqa: ANN001
    r = client.post("/v1/customers", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_get_patch_search(client) -> None:
    c = _create(client, external_id="W-1", first_name="Sofia", email="Sofia@Example.com", phone="+380671234567",
                tags=["vip"], address={"line1": "Main 1", "country": "UA"})
    assert (c["email"], c["phone"], c["tags"]) == ("sofia@example.com", "+380671234567", ["vip"])
    assert client.get(f"/v1/customers/{c['id']}").json() == c
    assert client.get("/v1/customers/by-external-id/W-1").json()["id"] == c["id"]
    patched = client.patch(f"/v1/customers/{c['id']}", json={"last_name": "Shevchenko", "locale": "uk"})
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["locale"]) == ("Sofia Shevchenko", "uk")
    page = client.get("/v1/customers", params={"q": "shevch", "limit": 10}).json()
    assert (page["total"], page["limit"], page["offset"], [i["id"] for i in page["items"]]) == (1, 10, 0, [c["id"]])
    assert client.get("/v1/customers", params={"tag": "vip"}).json()["total"] == 1


def test_errors_name_the_field(client) -> None:
    _create(client, external_id="E-1", email="e@example.com")
    cases = [
        (client.post("/v1/customers", json={"external_id": "E-2", "phone": "12"}), 422, "phone"),
        (client.post("/v1/customers", json={"external_id": "E-2", "email": "nope"}), 422, "email"),
        (client.post("/v1/customers", json={"external_id": "E-1"}), 409, "external_id"),
        (client.post("/v1/customers", json={"external_id": "E-3", "email": "E@example.com"}), 409, "email"),
        (client.get("/v1/customers/999999"), 404, "customer_id"),
        (client.get("/v1/customers/by-external-id/unknown"), 404, "external_id"),
        (client.patch("/v1/customers/999999", json={"first_name": "x"}), 404, "customer_id"),
        (client.get("/v1/customers", params={"status": "zombie"}), 422, "status"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field
    assert client.get("/v1/customers").json()["total"] == 1


def test_addresses_consents_tags_values(client) -> None:
    c = _create(client, external_id="H-1")
    cid = c["id"]
    assert client.post(f"/v1/customers/{cid}/addresses", json={"line1": "A 1", "country": "DK"}).status_code == 201
    assert client.post(f"/v1/customers/{cid}/addresses", json={"line1": "B 2", "country": "DK"}).status_code == 201
    history = client.get(f"/v1/customers/{cid}/addresses").json()
    assert [(a["line1"], a["valid_to"] is None) for a in history] == [("B 2", True), ("A 1", False)]
    current = client.get(f"/v1/customers/{cid}/addresses", params={"history": False}).json()
    assert [a["line1"] for a in current] == ["B 2"]
    r = client.post(f"/v1/customers/{cid}/consents", json={"channel": "sms", "granted": True})
    assert r.status_code == 201 and r.json()["source"] == "api"
    client.post(f"/v1/customers/{cid}/consents", json={"channel": "sms", "granted": False, "source": "staff"})
    assert [x["granted"] for x in client.get(f"/v1/customers/{cid}/consents").json()] == [False]
    assert [x["granted"] for x in client.get(f"/v1/customers/{cid}/consents", params={"history": True}).json()] == [
        False, True]
    bad = client.post(f"/v1/customers/{cid}/consents", json={"channel": "telepathy", "granted": True})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "consent.channel")
    assert client.post(f"/v1/customers/{cid}/tags", json={"tag": "Gold"}).json() == ["gold"]
    assert client.delete(f"/v1/customers/{cid}/tags/gold").json() == []
    assert client.delete(f"/v1/customers/{cid}/tags/gold").status_code == 404
    r = client.put(f"/v1/customers/{cid}/values", json={"values": ["early_access"], "note": "launch nights"})
    assert (r.json()["values"], r.json()["values_note"]) == (["early_access"], "launch nights")


def test_merge_duplicates_export_erase_360(client) -> None:
    a = _create(client, external_id="M-1", email="m@example.com")
    b = _create(client, external_id="M-2", phone="+4520123456")
    c = _create(client, external_id="M-3", phone="+45 20 12 34 56")
    groups = client.get("/v1/customers/duplicates").json()
    assert groups == [{"match": "phone", "value": "+4520123456", "customer_ids": [b["id"], c["id"]]}]
    r = client.post(f"/v1/customers/{a['id']}/merge", json={"duplicate_id": b["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["survivor"]["phone"] == "+4520123456"
    again = client.post(f"/v1/customers/{a['id']}/merge", json={"duplicate_id": b["id"]})
    assert (again.status_code, again.json()["error"]["field"]) == (409, "duplicate_id")
    assert client.get(f"/v1/customers/{b['id']}").json()["merged_into_id"] == a["id"]
    export = client.get(f"/v1/customers/{a['id']}/export").json()
    assert export["profile"]["id"] == a["id"]
    assert [t["kind"] for t in export["timeline"]].count("merge") == 1
    view = client.get(f"/v1/customers/{a['id']}/360").json()
    assert view["recent"][0]["kind"] == "merge"
    erased = client.post(f"/v1/customers/{a['id']}/erase")
    assert (erased.status_code, erased.json()["status"], erased.json()["email"]) == (200, "erased", None)
    assert client.get(f"/v1/customers/{a['id']}/export").status_code == 200
    assert client.post("/v1/customers/999999/erase").status_code == 404


def test_roles(client, client_as) -> None:
    cid = _create(client, external_id="R-1")["id"]
    analyst, agent, manager = client_as(Role.analyst), client_as(Role.agent), client_as(Role.manager)
    assert analyst.get(f"/v1/customers/{cid}").status_code == 200
    assert analyst.post("/v1/customers", json={"external_id": "R-2"}).status_code == 403
    assert analyst.patch(f"/v1/customers/{cid}", json={"first_name": "X"}).status_code == 403
    assert agent.patch(f"/v1/customers/{cid}", json={"first_name": "Agent"}).status_code == 200
    assert agent.post(f"/v1/customers/{cid}/erase").status_code == 403
    assert agent.get(f"/v1/customers/{cid}/export").status_code == 403
    assert manager.get(f"/v1/customers/{cid}/export").status_code == 200
    assert manager.post(f"/v1/customers/{cid}/erase").status_code == 403
    assert client.get(f"/v1/customers/{cid}").json()["first_name"] == "Agent"
    assert client.get(f"/v1/customers/{cid}").json()["status"] == "active"


def test_out_of_range_ids_are_404_not_500(client) -> None:
    huge = 2**70
    assert client.get(f"/v1/customers/{huge}").status_code == 404
    assert client.get(f"/v1/customers/{huge}/timeline").status_code == 404
    assert client.post(f"/v1/customers/{huge}/interactions",
                       json={"kind": "note", "channel": "web", "summary": "x"}).status_code == 404
    a = client.post("/v1/customers", json={"external_id": "BIG"}).json()["id"]
    r = client.post(f"/v1/customers/{a}/merge", json={"duplicate_id": huge})
    assert (r.status_code, r.json()["error"]["field"]) == (404, "duplicate_id")
    assert client.get("/v1/customers/-1").status_code == 404


def test_nul_characters_are_422_on_every_backend(client) -> None:
    r = client.post("/v1/customers", json={"external_id": "N\u0000UL"})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "external_id")
    assert client.get("/v1/customers", params={"q": "a\u0000"}).status_code == 422
    assert client.get("/v1/customers/by-external-id/a%00b").status_code == 404
    cid = client.post("/v1/customers", json={"external_id": "NUL-OK"}).json()["id"]
    for body, field in (({"summary": "a\u0000"}, "summary"), ({"data": {"k": "v\u0000"}}, "data"),
                        ({"source_id": "\u0000"}, "source_id")):
        r = client.post(f"/v1/customers/{cid}/interactions",
                        json={"kind": "note", "channel": "web", "summary": "ok", **body})
        assert (r.status_code, r.json()["error"]["field"]) == (422, field)
    assert client.get(f"/v1/customers/{cid}/timeline").json()["total"] == 1


def test_huge_offsets_are_422(client) -> None:
    cid = client.post("/v1/customers", json={"external_id": "OFF"}).json()["id"]
    assert client.get("/v1/customers", params={"offset": 10**12}).status_code == 422
    assert client.get(f"/v1/customers/{cid}/timeline", params={"offset": 10**12}).status_code == 422
    assert client.get("/v1/customers", params={"offset": 10**9}).json()["items"] == []

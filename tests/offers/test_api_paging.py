"""GET /v1/customers/{id}/offers pages in the database: newest first, `limit` 1-1000, `offset`."""

from __future__ import annotations


def test_a_customers_offers_come_in_pages_newest_first(client) -> None:
    cid = client.post("/v1/customers", json={"external_id": "PAGE-1"}).json()["id"]
    issued = []
    for n in range(5):  # an offer goes to a customer once by default: five offers
        offer = client.post("/v1/offers", json={"name": f"Offer {n}", "kind": "generic", "reward_type": "amount",
                                                "discount_value": "5"})
        assert offer.status_code == 201, offer.text
        issued.append(client.post(f"/v1/offers/{offer.json()['id']}/issue", json={"customer_id": cid}).json()["id"])
    everything = client.get(f"/v1/customers/{cid}/offers").json()
    assert [o["issue"]["id"] for o in everything] == issued[::-1]
    first = client.get(f"/v1/customers/{cid}/offers", params={"limit": 2}).json()
    rest = client.get(f"/v1/customers/{cid}/offers", params={"limit": 2, "offset": 2}).json()
    last = client.get(f"/v1/customers/{cid}/offers", params={"limit": 2, "offset": 4}).json()
    assert [o["issue"]["id"] for o in first + rest + last] == issued[::-1]
    assert len(last) == 1


def test_a_page_size_out_of_range_is_refused_naming_the_field(client) -> None:
    cid = client.post("/v1/customers", json={"external_id": "PAGE-2"}).json()["id"]
    for params, field in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset")):
        r = client.get(f"/v1/customers/{cid}/offers", params=params)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (params, r.text)

"""HTTP: balances, history, POS redemption, staff corrections, jobs; roles and error shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import STAFF_ACTOR
from tests.ledger.helpers import T0, new_customer

from loyalist.ledger import service as ledger
from loyalist.staff.schemas import Role


@pytest.fixture
def funded(session_factory, frozen) -> int:  # type: ignore[no-untyped-def]
    """A customer with 100 available points (50 expiring on day 30) and 40 pending."""
    with session_factory() as s, s.begin():
        c = new_customer(s, STAFF_ACTOR, "Api")
        ledger.earn(s, customer_id=c, points=50, source="pos", idempotency_key="a", reason="purchase 1",
                    actor=STAFF_ACTOR, expires_at=T0 + timedelta(days=30))
        ledger.earn(s, customer_id=c, points=50, source="pos", idempotency_key="b", reason="purchase 2",
                    actor=STAFF_ACTOR)
        ledger.earn(s, customer_id=c, points=40, source="pos", idempotency_key="c", reason="purchase 3",
                    actor=STAFF_ACTOR, available_at=T0 + timedelta(days=14))
    return c


def test_balance_entries_and_lots(client, funded) -> None:
    r = client.get(f"/v1/customers/{funded}/points")
    assert r.status_code == 200
    assert r.json() == {
        "customer_id": funded, "available": 100, "pending": 40, "lifetime_earned": 140, "lifetime_redeemed": 0,
        "expired": 0, "next_expiries": [{"date": str((T0 + timedelta(days=30)).date()), "points": 50}],
    }
    page = client.get(f"/v1/customers/{funded}/points/entries", params={"limit": 2}).json()
    assert (page["total"], page["limit"], [e["reason"] for e in page["items"]]) == (3, 2, ["purchase 3",
                                                                                            "purchase 2"])
    assert page["items"][0]["lots"][0]["available_at"].startswith(str((T0 + timedelta(days=14)).date()))
    lots = client.get(f"/v1/customers/{funded}/points/lots").json()
    assert [(lot["points"], lot["pending"]) for lot in lots] == [(50, False), (50, False), (40, True)]


def test_unknown_customer_is_404(client) -> None:
    for path in ("/v1/customers/999999/points", "/v1/customers/999999/points/entries",
                 "/v1/customers/999999/points/lots"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/v1/customers/999999/points/redemptions", json={"points": 1, "idempotency_key": "k"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "customer_id"


def test_redemption_is_idempotent_and_refuses_overdraft(client, funded) -> None:
    url = f"/v1/customers/{funded}/points/redemptions"
    body = {"points": 30, "idempotency_key": "till-1-receipt-9", "reference_type": "receipt", "reference_id": "9"}
    first = client.post(url, json=body)
    assert first.status_code == 201
    created = first.json()
    assert (created["kind"], created["points"], created["reference_id"]) == ("redeem", -30, "9")
    assert [(m["points"], m["expires_at"] is not None) for m in created["lots"]] == [(-30, True)]
    again = client.post(url, json=body)
    assert again.json()["id"] == created["id"]
    conflict = client.post(url, json={**body, "points": 31})
    assert conflict.status_code == 409
    assert conflict.json()["error"] == {
        "code": "idempotency_conflict", "field": "idempotency_key",
        "message": "idempotency key 'till-1-receipt-9' of source 'pos' was already used for a different request",
        "details": {"entry_id": created["id"]},
    }
    short = client.post(url, json={"points": 71}, headers={"Idempotency-Key": "till-1-receipt-10"})
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "insufficient_points"
    assert short.json()["error"]["details"] == {"available": 70, "requested": 71}
    assert client.get(f"/v1/customers/{funded}/points").json()["available"] == 70


def test_validation_errors_are_422(client, funded) -> None:
    url = f"/v1/customers/{funded}/points/redemptions"
    missing = client.post(url, json={"points": 5})
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "idempotency_key"
    assert client.post(url, json={"points": 0, "idempotency_key": "k"}).status_code == 422
    assert client.post(url, json={"points": "lots", "idempotency_key": "k"}).status_code == 422
    r = client.post(f"/v1/customers/{funded}/points/compensations", json={"points": 5, "idempotency_key": "k"})
    assert r.status_code == 422  # reason is required
    assert client.get(f"/v1/customers/{funded}/points").json()["available"] == 100


def test_adjustments_and_compensations_by_role(client, client_as, funded) -> None:
    adj = {"points": -20, "reason": "double scan", "idempotency_key": "adj-1"}
    assert client_as(Role.agent).post(f"/v1/customers/{funded}/points/adjustments", json=adj).status_code == 403
    assert client_as(Role.integration).post(f"/v1/customers/{funded}/points/adjustments",
                                            json=adj).status_code == 403
    r = client_as(Role.manager).post(f"/v1/customers/{funded}/points/adjustments", json=adj)
    assert r.status_code == 201 and r.json()["points"] == -20
    comp = {"points": 15, "reason": "late parcel", "idempotency_key": "case-1"}
    assert client_as(Role.analyst).post(f"/v1/customers/{funded}/points/compensations",
                                        json=comp).status_code == 403
    r = client_as(Role.agent).post(f"/v1/customers/{funded}/points/compensations", json=comp)
    assert r.status_code == 201 and r.json()["kind"] == "compensation"
    assert r.json()["actor"].startswith("api_key:")
    assert client.get(f"/v1/customers/{funded}/points").json()["available"] == 95
    assert client_as(Role.analyst).get(f"/v1/customers/{funded}/points").status_code == 200
    assert client_as(Role.integration).post(f"/v1/customers/{funded}/points/redemptions",
                                            json={"points": 5, "idempotency_key": "pos-1"}).status_code == 201


def test_reversal_endpoint(client, client_as, funded) -> None:
    redemption = client.post(f"/v1/customers/{funded}/points/redemptions",
                             json={"points": 60, "idempotency_key": "r"}).json()
    body = {"reason": "order cancelled", "idempotency_key": "rev-1"}
    assert client_as(Role.agent).post(f"/v1/points/entries/{redemption['id']}/reversal",
                                      json=body).status_code == 403
    r = client.post(f"/v1/points/entries/{redemption['id']}/reversal", json=body)
    assert r.status_code == 201
    assert (r.json()["points"], r.json()["reverses_entry_id"]) == (60, redemption["id"])
    again = client.post(f"/v1/points/entries/{redemption['id']}/reversal",
                        json={"reason": "twice", "idempotency_key": "rev-2"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    missing = client.post("/v1/points/entries/99999999/reversal", json={"reason": "x", "idempotency_key": "rev-3"})
    assert missing.status_code == 404
    assert client.get(f"/v1/customers/{funded}/points").json()["available"] == 100


def test_ledger_jobs_and_reports(client, client_as, funded, frozen) -> None:
    assert client_as(Role.manager).post("/v1/ledger/check").status_code == 403
    check = client.post("/v1/ledger/check")
    assert check.status_code == 200 and check.json()["ok"] is True and check.json()["mismatches"] == []
    frozen(T0 + timedelta(days=31))
    expired = client.post("/v1/ledger/expire", json={"as_of": (T0 + timedelta(days=31)).isoformat()})
    assert expired.status_code == 200
    assert (expired.json()["lots_expired"], expired.json()["lots_released"]) == (1, 1)
    rerun = client.post("/v1/ledger/expire", json={}).json()
    assert (rerun["lots_expired"], rerun["lots_released"]) == (0, 0)
    future = client.post("/v1/ledger/expire", json={"as_of": (T0 + timedelta(days=40)).isoformat()})
    assert future.status_code == 422
    report = client.get("/v1/ledger/liability", params={"point_value": "0.02"})
    assert report.status_code == 200
    body = report.json()
    assert (body["outstanding_points"], body["outstanding_value"], body["pending_points"],
            body["breakage_points"], body["breakage_rate"]) == (90, "1.80", 0, 50, "0.3571")

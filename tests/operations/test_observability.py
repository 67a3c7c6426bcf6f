"""Metrics, structured logs, request ids and start-up checks (issue 7, observability)."""

from __future__ import annotations

import json
import logging

import pytest

from loyalist.api.observability import JsonFormatter
from loyalist.config import DEFAULT_SECRET, Settings, UnsafeConfiguration, check_production_ready
from loyalist.ledger import service as ledger
from loyalist.staff.schemas import Role


def test_metrics_need_a_key_with_the_permission(app, client_as) -> None:
    from fastapi.testclient import TestClient

    assert TestClient(app).get("/metrics").status_code == 401
    assert client_as(Role.agent).get("/metrics").status_code == 403
    assert client_as(Role.analyst).get("/metrics").status_code == 200


def test_metrics_expose_business_gauges_and_request_series(client, session_factory, actor) -> None:
    from loyalist.customers import service as customers
    from loyalist.customers.schemas import CustomerCreate

    with session_factory() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(external_id="M1"), actor=actor).id
        ledger.earn(s, customer_id=cid, points=70, source="test", idempotency_key="m1", reason="t", actor=actor)
    client.get(f"/v1/customers/{cid}")
    body = client.get("/metrics").text
    assert 'loyalist_ledger_entries{kind="earn"} 1.0' in body
    assert "loyalist_points_outstanding 70.0" in body
    assert "loyalist_outbox_depth 0.0" in body
    assert "loyalist_cases_sla_breached_open 0.0" in body
    # the route template is the label, never the concrete id
    assert 'route="/v1/customers/{customer_id}"' in body
    assert f"/v1/customers/{cid}\"" not in body


def test_request_id_is_echoed_only_when_safe(client) -> None:
    ok = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert ok.headers["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-ID": 'x"\n{"level":"error"}'})
    assert forged.headers["X-Request-ID"] != 'x"\n{"level":"error"}' and len(forged.headers["X-Request-ID"]) == 32


def test_the_request_id_reaches_the_audit_log(client) -> None:
    r = client.post("/v1/customers", json={"external_id": "RQ-1"}, headers={"X-Request-ID": "req-audit-1"})
    assert r.status_code == 201
    entries = client.get("/v1/audit", params={"target_type": "customer"}).json()
    assert any(e.get("request_id") == "req-audit-1" for e in entries["items"])


def test_access_log_is_json_with_the_route_and_no_secret(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="loyalist.access")
    key = client.headers["Authorization"].split()[1]
    client.get("/v1/customers", params={"q": "secret-query"}, headers={"X-Request-ID": "log-1"})
    [record] = [r for r in caplog.records if getattr(r, "request_id", None) == "log-1"]
    line = JsonFormatter().format(record)
    body = json.loads(line)
    assert (body["route"], body["status"], body["method"]) == ("/v1/customers", 200, "GET")
    assert body["actor"].startswith("api_key:")
    assert key not in line and "secret-query" not in line


def test_default_secret_is_refused_outside_demo_mode() -> None:
    with pytest.raises(UnsafeConfiguration, match="LOYALIST_SECRET_KEY"):
        check_production_ready(Settings(secret_key=DEFAULT_SECRET, demo_mode=False))
    with pytest.raises(UnsafeConfiguration, match="shorter"):
        check_production_ready(Settings(secret_key="short", demo_mode=False))
    check_production_ready(Settings(secret_key=DEFAULT_SECRET, demo_mode=True))
    check_production_ready(Settings(secret_key="x" * 40, demo_mode=False))


def test_public_link_endpoints_are_rate_limited_per_client(app) -> None:
    from fastapi.testclient import TestClient

    from loyalist.api.routes.surveys import PUBLIC_ANSWERS

    anonymous = TestClient(app)
    statuses = [anonymous.post("/v1/public/surveys/a/not-a-token", json={"answers": {}}).status_code
                for _ in range(PUBLIC_ANSWERS.limit + 1)]
    assert set(statuses[:-1]) <= {403, 404, 422} and statuses[-1] == 429
    limited = anonymous.post("/v1/public/surveys/a/not-a-token", json={"answers": {}})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"


def test_nul_in_a_query_parameter_is_a_422_naming_it(client) -> None:
    r = client.get("/v1/audit", params={"action": "\x00"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "action"

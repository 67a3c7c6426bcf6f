"""HTTP: templates and preview, outbox, webhook endpoints, suppressions, public unsubscribe, roles."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalist.customers import service as customers
from loyalist.messaging import service
from loyalist.messaging.models import Message
from loyalist.staff.schemas import Role

from .conftest import make_customer


def _customer(session_factory, actor, **kw) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as s, s.begin():
        return make_customer(s, actor, **kw)


def test_templates_crud_and_preview(client, session_factory, actor) -> None:
    cid = _customer(session_factory, actor, first_name="Ольга", locale="ru")
    created = client.post("/v1/message-templates", json={"key": "bday", "locale": "ru",
                                                          "subject": "С днём рождения, {{ first_name }}!",
                                                          "text": "У вас {{ points }} баллов"})
    assert created.status_code == 201
    tid = created.json()["id"]
    preview = client.post("/v1/message-templates/preview", json={"key": "bday", "customer_id": cid,
                                                                 "context": {"points": 120}})
    assert preview.status_code == 200
    assert preview.json() == {"locale": "ru", "subject": "С днём рождения, Ольга!", "text": "У вас 120 баллов",
                              "html": None}
    missing_var = client.post("/v1/message-templates/preview", json={"key": "bday", "customer_id": cid})
    assert missing_var.status_code == 422
    assert missing_var.json()["error"]["field"] == "text"
    bad = client.patch(f"/v1/message-templates/{tid}", json={"subject": "{% if %}"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "subject"
    assert client.get(f"/v1/message-templates/{tid}").json()["subject"] == "С днём рождения, {{ first_name }}!"
    assert [t["key"] for t in client.get("/v1/message-templates").json()] == ["bday"]
    assert client.delete(f"/v1/message-templates/{tid}").status_code == 200
    assert client.get(f"/v1/message-templates/{tid}").status_code == 404


def test_send_list_and_customer_messages(client, session_factory, actor) -> None:
    cid = _customer(session_factory, actor)
    body = {"channel": "email", "customer_id": cid, "dedupe_key": "api:1", "subject": "Hi", "text": "there",
            "category": "service"}
    first = client.post("/v1/messages", json=body)
    assert first.status_code == 201
    again = client.post("/v1/messages", json={**body, "subject": "changed"})
    assert again.json()["id"] == first.json()["id"] and again.json()["subject"] == "Hi"
    page = client.get(f"/v1/customers/{cid}/messages").json()
    assert (page["total"], page["items"][0]["to"], page["items"][0]["status"]) == (1, "anna@example.com", "queued")
    assert client.get("/v1/messages", params={"status": "sent"}).json()["total"] == 0
    assert client.get(f"/v1/messages/{first.json()['id']}").json()["dedupe_key"] == "api:1"
    assert client.get("/v1/messages/stats").json()["by_status"] == {"queued": 1}
    rejected = client.post("/v1/messages", json={**body, "dedupe_key": "api:2", "channel": "pigeon"})
    assert rejected.status_code == 422 and rejected.json()["error"]["field"] == "channel"
    assert client.get("/v1/customers/999999/messages").status_code == 404
    conflict = client.post(f"/v1/messages/{first.json()['id']}/resend")
    assert conflict.status_code == 409
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def test_webhook_endpoint_secret_only_in_creation_answer(client) -> None:
    created = client.post("/v1/webhook-endpoints", json={"url": "https://hooks.example.com/a",
                                                          "events": ["points.*"]})
    assert created.status_code == 201
    secret = created.json()["secret"]
    eid = created.json()["id"]
    assert len(secret) >= 32
    for resp in (client.get(f"/v1/webhook-endpoints/{eid}"), client.get("/v1/webhook-endpoints"),
                 client.patch(f"/v1/webhook-endpoints/{eid}", json={"description": "CRM"}),
                 client.delete(f"/v1/webhook-endpoints/{eid}")):
        assert resp.status_code == 200 and secret not in resp.text and "secret" not in resp.text
    assert client.get(f"/v1/webhook-endpoints/{eid}").json()["active"] is False


def test_suppressions_api(client) -> None:
    created = client.post("/v1/suppressions", json={"channel": "email", "address": "No@Example.com"})
    assert created.status_code == 201
    assert created.json()["address_hint"] == "n***@example.com"
    assert "No@Example.com".lower() not in client.get("/v1/suppressions").text
    assert client.post("/v1/suppressions", json={"channel": "email", "address": "no@example.com"}).status_code == 409
    assert client.delete(f"/v1/suppressions/{created.json()['id']}").status_code == 200
    assert client.get("/v1/suppressions").json() == []


def test_public_one_click_unsubscribe(app, session_factory, actor) -> None:
    from fastapi.testclient import TestClient

    cid = _customer(session_factory, actor)
    token = service.unsubscribe_token(channel="email", customer_id=cid, address="anna@example.com")
    anonymous = TestClient(app)
    page = anonymous.get("/v1/public/unsubscribe", params={"token": token})
    assert page.status_code == 200 and "<form method='post'" in page.text
    with session_factory() as s:
        assert customers.has_consent(s, cid, "email") is True  # a GET (link scanner) changes nothing
    tampered = anonymous.post("/v1/public/unsubscribe", params={"token": token[:-3] + "abc"},
                              data={"List-Unsubscribe": "One-Click"})
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "invalid_token"
    with session_factory() as s:
        assert customers.has_consent(s, cid, "email") is True
    done = anonymous.post("/v1/public/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert done.json() == {"channel": "email", "customer_id": cid, "unsubscribed": True}
    browser = anonymous.post("/v1/public/unsubscribe", params={"token": token}, headers={"Accept": "text/html"})
    assert browser.status_code == 200 and "no longer receive" in browser.text
    with session_factory() as s:
        assert customers.has_consent(s, cid, "email") is False


def test_roles(client_as) -> None:
    analyst = client_as(Role.analyst)
    assert analyst.get("/v1/messages").status_code == 200
    assert analyst.post("/v1/messages", json={"channel": "email", "to": "a@example.com", "dedupe_key": "r",
                                              "subject": "s", "text": "t"}).status_code == 403
    agent = client_as(Role.agent)
    assert agent.post("/v1/message-templates", json={"key": "k", "text": "t"}).status_code == 403
    assert agent.get("/v1/webhook-endpoints").status_code == 403
    assert agent.post("/v1/messages", json={"channel": "email", "to": "a@example.com", "dedupe_key": "r",
                                            "subject": "s", "text": "t", "category": "transactional"}
                      ).status_code == 201

"""The customer timeline: validation, one INSERT per record, filters and stable pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.errors import ValidationFailed
from loyalist.interactions import service
from loyalist.interactions.models import Interaction
from loyalist.interactions.schemas import InteractionCreate
from loyalist.staff.schemas import Role

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def cid(session, actor) -> int:
    return customers.ensure_customer(session, external_id="TL-1", actor=actor)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "telepathy"}, "kind"),
        ({"channel": "pigeon"}, "channel"),
        ({"direction": "sideways"}, "direction"),
        ({"summary": "   "}, "summary"),
        ({"summary": "x" * 4001}, "summary"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
    ],
)
def test_bad_record_names_the_field_and_writes_nothing(session, cid, kwargs, field) -> None:
    n = session.scalar(select(func.count(Interaction.id)))
    args = {"kind": "note", "channel": "phone", "summary": "ok", **kwargs}
    with pytest.raises(ValidationFailed) as err:
        service.record(session, customer_id=cid, **args)
    assert err.value.field == field
    assert session.scalar(select(func.count(Interaction.id))) == n


def test_record_is_a_single_insert(session, cid, actor) -> None:
    statements: list[str] = []
    conn = session.connection()

    def listener(*args) -> None:  # noqa: ANN002
        statements.append(args[2])

    event.listen(conn, "before_cursor_execute", listener)
    try:
        row = service.record(session, customer_id=cid, kind="purchase", channel="online", summary="order 1",
                             direction="inbound", actor=actor, source_type="order", source_id=1,
                             data={"total": "10.00"})
    finally:
        event.remove(conn, "before_cursor_execute", listener)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
    stored = session.get(Interaction, row.id)
    assert (stored.kind, stored.direction, stored.source_id, stored.actor, stored.data) == (
        "purchase", "inbound", "1", actor.label, {"total": "10.00"})


def test_record_many(session, cid) -> None:
    n = service.record_many(session, [
        {"customer_id": cid, "kind": "purchase", "channel": "in_store", "summary": f"receipt {i}",
         "occurred_at": T0 + timedelta(days=i)} for i in range(5)])
    assert n == 5
    with pytest.raises(ValidationFailed):
        service.record_many(session, [{"customer_id": cid, "kind": "purchase", "channel": "in_store",
                                       "summary": "ok"}, {"customer_id": cid, "kind": "nope", "channel": "web",
                                                          "summary": "bad"}])
    assert service.list_timeline(session, cid, kinds=["purchase"]).total == 5


def test_filters_and_stable_pages(session, cid) -> None:
    ids = []
    for i in range(7):
        kind, channel = (("purchase", "online"), ("call", "phone"), ("email", "email"))[i % 3]
        ids.append(service.record(session, customer_id=cid, kind=kind, channel=channel, summary=f"#{i}",
                                  occurred_at=T0 + timedelta(days=i // 2)).id)
    page1 = service.list_timeline(session, cid, kinds=["purchase", "call", "email"], limit=3)
    page2 = service.list_timeline(session, cid, kinds=["purchase", "call", "email"], limit=3, offset=3)
    page3 = service.list_timeline(session, cid, kinds=["purchase", "call", "email"], limit=3, offset=6)
    seen = [i.id for p in (page1, page2, page3) for i in p.items]
    assert seen == [ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]]  # newest first, ties by id desc
    assert (page1.total, page1.limit, page2.offset) == (7, 3, 3)
    assert [i.id for i in service.list_timeline(session, cid, channels=["phone"]).items] == [ids[4], ids[1]]
    window = service.list_timeline(session, cid, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3),
                                   kinds=["purchase", "call", "email"])
    assert sorted(i.id for i in window.items) == ids[2:6]
    with pytest.raises(ValidationFailed) as err:
        service.list_timeline(session, cid, kinds=["nope"])
    assert err.value.field == "kind"


def test_log_interaction_audits(session, cid, actor) -> None:
    row = service.log_interaction(session, customer_id=cid, actor=actor,
                                  data=InteractionCreate(kind="visit", channel="in_store", summary="Came by"))
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "interaction.log")).one()
    assert entry.after == {"interaction_id": row.id, "kind": "visit", "channel": "in_store"}


def test_timeline_api(client, client_as) -> None:
    cid = client.post("/v1/customers", json={"external_id": "API-TL"}).json()["id"]
    r = client.post(f"/v1/customers/{cid}/interactions", json={
        "kind": "call", "channel": "phone", "direction": "inbound", "summary": "Asked about points",
        "occurred_at": "2026-02-01T10:00:00+01:00"})
    assert r.status_code == 201, r.text
    assert r.json()["occurred_at"] == "2026-02-01T09:00:00Z"
    page = client.get(f"/v1/customers/{cid}/timeline", params={"kind": "call"}).json()
    assert (page["total"], [i["summary"] for i in page["items"]]) == (1, ["Asked about points"])
    both = client.get(f"/v1/customers/{cid}/timeline", params=[("kind", "call"), ("kind", "profile_change")])
    assert both.json()["total"] == 2
    since = client.get(f"/v1/customers/{cid}/timeline", params={"since": "2026-02-01T09:00:01Z",
                                                                "kind": "call"}).json()
    assert since["total"] == 0
    bad = client.post(f"/v1/customers/{cid}/interactions", json={"kind": "x", "channel": "phone", "summary": "s"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "kind")
    assert client.get("/v1/customers/999999/timeline").status_code == 404
    assert client.post("/v1/customers/999999/interactions",
                       json={"kind": "note", "channel": "phone", "summary": "s"}).status_code == 404
    analyst = client_as(Role.analyst)
    assert analyst.get(f"/v1/customers/{cid}/timeline").status_code == 200
    assert analyst.post(f"/v1/customers/{cid}/interactions",
                        json={"kind": "note", "channel": "phone", "summary": "s"}).status_code == 403
    assert client.get(f"/v1/customers/{cid}/timeline").json()["total"] == 2


def test_interaction_on_merged_customer_lands_on_survivor(client) -> None:
    a = client.post("/v1/customers", json={"external_id": "S"}).json()["id"]
    b = client.post("/v1/customers", json={"external_id": "D"}).json()["id"]
    client.post(f"/v1/customers/{a}/merge", json={"duplicate_id": b})
    r = client.post(f"/v1/customers/{b}/interactions", json={"kind": "note", "channel": "web", "summary": "hi"})
    assert (r.status_code, r.json()["customer_id"]) == (201, a)


def test_single_kind_string_is_accepted(session, cid) -> None:
    service.record(session, customer_id=cid, kind="visit", channel="in_store", summary="came by")
    assert service.list_timeline(session, cid, kinds="visit", channels="in_store").total == 1  # type: ignore[arg-type]

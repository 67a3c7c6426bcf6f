"""Staff tasks: create (idempotent on dedupe key), list filters and overdue, complete with the
outcome on the timeline, reassign, cancel, refusals that change nothing, customer hooks, REST roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.errors import InvalidState, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.staff import service as staff
from loyalist.staff.schemas import Role, StaffCreate
from loyalist.tasks import service
from loyalist.tasks.models import Task
from loyalist.types import SYSTEM

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def make_customer(session, actor, name="Olga") -> int:
    return customers.create_customer(session, data=CustomerCreate(first_name=name), actor=actor).id


def make_staff(session, actor, email="ann@example.com", role=Role.agent) -> int:
    return staff.create_staff(session, data=StaffCreate(email=email, name=email.split("@")[0], role=role),
                              actor=actor).id


def count_tasks(session) -> int:
    return session.scalar(select(func.count()).select_from(Task))


def test_create_is_idempotent_on_dedupe_key(session, actor):
    cid = make_customer(session, actor)
    ann = make_staff(session, actor)
    with clock.frozen_at(NOW):
        first = service.create_task(session, kind="call", title="Birthday call", customer_id=cid, assignee_id=ann,
                                    due_at=NOW + timedelta(days=1), actor=actor, dedupe_key="auto:1:birthday-2026")
        again = service.create_task(session, kind="call", title="Another title", customer_id=cid, assignee_id=None,
                                    due_at=None, actor=actor, dedupe_key="auto:1:birthday-2026")
    assert again == first
    assert first.status == "open" and first.assignee_id == ann and first.overdue is False
    assert count_tasks(session) == 1
    audits = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "task.create"))
    assert audits == 1


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "dance"}, "kind"),
    ({"title": "   "}, "title"),
    ({"customer_id": 999999}, "customer_id"),
    ({"assignee_id": 999999}, "assignee_id"),
    ({"due_at": datetime(2026, 12, 1)}, "due_at"),
])
def test_create_refusals_name_the_field_and_write_nothing(session, actor, kwargs, field):
    args = {"kind": "call", "title": "Call", "customer_id": None, "assignee_id": None, "due_at": None}
    args.update(kwargs)
    with pytest.raises(ValidationFailed) as err:
        service.create_task(session, actor=actor, **args)
    assert err.value.field == field
    assert count_tasks(session) == 0


def test_list_filters_and_overdue(session, actor):
    cid = make_customer(session, actor)
    ann = make_staff(session, actor)
    bob = make_staff(session, actor, email="bob@example.com")
    with clock.frozen_at(NOW):
        late = service.create_task(session, kind="call", title="late", customer_id=cid, assignee_id=ann,
                                   due_at=NOW - timedelta(hours=1), actor=actor)
        soon = service.create_task(session, kind="write", title="soon", customer_id=None, assignee_id=ann,
                                   due_at=NOW + timedelta(hours=2), actor=actor)
        undated = service.create_task(session, kind="greet", title="undated", customer_id=cid, assignee_id=bob,
                                      due_at=None, actor=actor)
        pool = service.create_task(session, kind="other", title="pool", customer_id=None, assignee_id=None,
                                   due_at=NOW + timedelta(days=3), actor=actor)
        mine = service.list_tasks(session, assignee_id=ann)
        assert [t.id for t in mine.items] == [late.id, soon.id]
        assert [t.overdue for t in mine.items] == [True, False]
        assert [t.id for t in service.list_tasks(session, overdue=True).items] == [late.id]
        assert [t.id for t in service.list_tasks(session, customer_id=cid).items] == [late.id, undated.id]
        assert [t.id for t in service.list_tasks(session, unassigned=True).items] == [pool.id]
        due = service.list_tasks(session, due_before=NOW + timedelta(days=1))
        assert [t.id for t in due.items] == [late.id, soon.id]
        everything = service.list_tasks(session, limit=2)
        assert everything.total == 4 and [t.id for t in everything.items] == [late.id, soon.id]
        with pytest.raises(ValidationFailed) as err:
            service.list_tasks(session, status="lost")
        assert err.value.field == "status"


def test_complete_records_outcome_on_timeline_once(session, actor):
    cid = make_customer(session, actor)
    with clock.frozen_at(NOW):
        task = service.create_task(session, kind="call", title="Thank for 10 years", customer_id=cid,
                                   assignee_id=None, due_at=NOW, actor=actor, source_type="automation",
                                   source_id="7")
        done = service.complete_task(session, task_id=task.id, outcome="reached", note="Very pleased", actor=actor)
    assert (done.status, done.outcome, done.outcome_note, done.closed_at) == ("done", "reached", "Very pleased", NOW)
    rows = interactions.list_timeline(session, cid, kinds=["task"]).items
    assert len(rows) == 1
    row = rows[0]
    assert (row.channel, row.direction, row.source_type, row.source_id) == ("phone", "outbound", "task", str(task.id))
    assert row.summary == "Task (call) done: Thank for 10 years — reached. Very pleased"
    assert row.data == {"task_id": task.id, "task_kind": "call", "outcome": "reached", "status": "done",
                        "source_type": "automation", "source_id": "7"}
    # a second completion is refused and changes nothing
    with pytest.raises(InvalidState):
        service.complete_task(session, task_id=task.id, outcome="no_answer", note=None, actor=actor)
    assert service.get_task(session, task.id).outcome == "reached"
    assert len(interactions.list_timeline(session, cid, kinds=["task"]).items) == 1


def test_complete_refuses_unknown_outcome_and_missing_task(session, actor):
    task = service.create_task(session, kind="review", title="Check", customer_id=None, assignee_id=None,
                               due_at=None, actor=actor)
    with pytest.raises(ValidationFailed) as err:
        service.complete_task(session, task_id=task.id, outcome="great", note=None, actor=actor)
    assert err.value.field == "outcome"
    assert service.get_task(session, task.id).status == "open"
    with pytest.raises(NotFound):
        service.complete_task(session, task_id=task.id + 1000, outcome="done", note=None, actor=actor)


def test_reassign_and_cancel(session, actor):
    ann = make_staff(session, actor)
    bob = make_staff(session, actor, email="bob@example.com")
    task = service.create_task(session, kind="write", title="Send thanks", customer_id=None, assignee_id=ann,
                               due_at=None, actor=actor)
    assert service.reassign_task(session, task_id=task.id, assignee_id=bob, actor=actor).assignee_id == bob
    with pytest.raises(ValidationFailed) as err:
        service.reassign_task(session, task_id=task.id, assignee_id=bob + 100, actor=actor)
    assert err.value.field == "assignee_id"
    assert service.get_task(session, task.id).assignee_id == bob
    cancelled = service.cancel_task(session, task_id=task.id, actor=actor, reason="customer moved away")
    assert (cancelled.status, cancelled.outcome_note) == ("cancelled", "customer moved away")
    with pytest.raises(InvalidState):
        service.reassign_task(session, task_id=task.id, assignee_id=ann, actor=actor)
    assert service.get_task(session, task.id).assignee_id == bob


def test_merge_moves_tasks_and_erasure_scrubs_them(session, actor):
    keep = make_customer(session, actor, "Keep")
    dup = make_customer(session, actor, "Dup")
    task = service.create_task(session, kind="call", title="Call Dup about the sofa", customer_id=dup,
                               assignee_id=None, due_at=None, actor=actor, note="prefers mornings")
    customers.merge_customers(session, survivor_id=keep, duplicate_id=dup, actor=actor)
    assert service.get_task(session, task.id).customer_id == keep
    exported = customers.export_customer(session, keep)
    assert [t["id"] for t in exported["sections"]["tasks"]] == [task.id]
    customers.erase_customer(session, customer_id=keep, actor=actor)
    erased = service.get_task(session, task.id)
    assert (erased.title, erased.note, erased.status) == ("[erased]", None, "cancelled")


def _key_for(session_factory, role, staff_id):
    with session_factory() as s, s.begin():
        return staff.create_api_key(s, name="k", role=role, actor=SYSTEM, staff_id=staff_id).key


def test_rest_agent_sees_own_list_manager_sees_all(app, session_factory, client, actor):
    from fastapi.testclient import TestClient

    with session_factory() as s, s.begin():
        ann = make_staff(s, actor)
        bob = make_staff(s, actor, email="bob@example.com")
        cid = make_customer(s, actor)
    agent = TestClient(app)
    agent.headers["Authorization"] = f"Bearer {_key_for(session_factory, Role.agent, ann)}"
    created = agent.post("/v1/tasks", json={"kind": "call", "title": "Call back", "customer_id": cid})
    assert created.status_code == 201, created.text
    assert created.json()["assignee_id"] == ann
    other = client.post("/v1/tasks", json={"kind": "write", "title": "Bob's", "assignee_id": bob})
    assert other.status_code == 201
    mine = agent.get("/v1/tasks").json()
    assert [t["title"] for t in mine["items"]] == ["Call back"]
    assert agent.get("/v1/tasks", params={"assignee": "all"}).status_code == 403
    assert [t["title"] for t in client.get("/v1/tasks").json()["items"]] == ["Call back", "Bob's"]
    done = agent.post(f"/v1/tasks/{created.json()['id']}/complete", json={"outcome": "no_answer"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = agent.post(f"/v1/tasks/{created.json()['id']}/complete", json={"outcome": "reached"})
    assert again.status_code == 409
    bad = client.post("/v1/tasks", json={"kind": "call", "title": "x", "assignee_id": 987654})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "assignee_id"
    assert [t["title"] for t in client.get(f"/v1/customers/{cid}/tasks").json()["items"]] == ["Call back"]
    huge = client.get("/v1/tasks", params={"customer_id": 2**63})
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "customer_id"
    assert client.get("/v1/tasks").json()["total"] == 2

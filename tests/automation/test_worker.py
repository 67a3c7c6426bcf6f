"""End to end through `loyalist worker`'s job runner on a committed database: the date pass, the
timeline scan and the delayed action each happen once, at their time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.automation.helpers import make_automation, make_customer

from loyalist import clock
from loyalist.automation import service
from loyalist.db import make_session_factory, unit_of_work
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.tasks import service as tasks
from loyalist.worker.jobs import run_due_jobs

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
JOBS = ["automation.daily", "automation.scan_timeline", "automation.delayed_actions"]


def test_worker_runs_the_automation_jobs(committed_engine, actor):
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        cid = make_customer(s, actor, birthday=date(1990, 11, 20), tz="UTC")
        birthday = make_automation(s, actor, {"type": "birthday", "catch_up_days": 0},
                                   actions=[{"type": "grant_points", "points": 60, "delay_hours": 1}])
        resolved = make_automation(s, actor, {"type": "case_resolved"}, name="after a case",
                                   actions=[{"type": "create_task", "task_kind": "call", "title": "How was it?"}])
    with unit_of_work(factory) as s, clock.frozen_at(NOW):
        interactions.record(s, customer_id=cid, kind="case_update", channel="system", summary="Case resolved",
                            data={"from": "open", "to": "resolved"})
    with clock.frozen_at(NOW):
        first = run_due_jobs(committed_engine, as_of=NOW, worker_id="w1", only=JOBS)
    assert {k: v.status for k, v in first.items()} == dict.fromkeys(JOBS, "ok")
    assert first["automation.daily"].result["runs_started"] == 1
    assert first["automation.scan_timeline"].result["runs_started"] == 1
    with clock.frozen_at(NOW + timedelta(minutes=30)):
        early = run_due_jobs(committed_engine, as_of=NOW + timedelta(minutes=30), worker_id="w2", only=JOBS)
    assert early["automation.delayed_actions"].result["actions_done"] == 0
    assert early["automation.scan_timeline"].result["runs_started"] == 0
    with clock.frozen_at(NOW + timedelta(hours=2)):
        late = run_due_jobs(committed_engine, as_of=NOW + timedelta(hours=2), worker_id="w1", only=JOBS)
    assert late["automation.delayed_actions"].result["actions_done"] == 1
    assert late["automation.daily"].result["runs_started"] == 0
    with factory() as s:
        assert ledger.get_balance(s, cid).available == 60
        assert [t.title for t in tasks.list_tasks(s, customer_id=cid).items] == ["How was it?"]
        assert [r.status for r in service.list_runs(s, automation_id=birthday.id).items] == ["done"]
        assert [r.status for r in service.list_runs(s, automation_id=resolved.id).items] == ["done"]

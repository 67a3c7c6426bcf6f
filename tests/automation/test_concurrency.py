"""Two workers at once on PostgreSQL: a run starts once (UNIQUE instance), a delayed action is
executed by one worker only (row claimed with SKIP LOCKED)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from tests.automation.helpers import make_automation, make_customer

from loyalist import clock
from loyalist.automation import service
from loyalist.automation.models import AutomationRun
from loyalist.db import make_session_factory, unit_of_work
from loyalist.ledger import service as ledger

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def pg_factory(committed_engine):  # type: ignore[no-untyped-def]
    if committed_engine.dialect.name != "postgresql":
        pytest.skip("row locking races are a PostgreSQL matter (SQLite serialises writers)")
    return make_session_factory(committed_engine)


def test_two_workers_start_a_run_once(pg_factory, actor):
    with unit_of_work(pg_factory) as s:
        cid = make_customer(s, actor, birthday=date(1990, 11, 20), tz="UTC")
        auto = make_automation(s, actor, {"type": "birthday", "catch_up_days": 0},
                               actions=[{"type": "grant_points", "points": 75}])
    results: dict[str, object] = {}

    def second_worker() -> None:
        with unit_of_work(pg_factory) as s2:
            results["b"] = service.evaluate_date_trigger(s2, automation_id=auto.id, as_of=NOW)

    with clock.frozen_at(NOW):
        s1 = pg_factory()
        s1.begin()
        results["a"] = service.evaluate_date_trigger(s1, automation_id=auto.id, as_of=NOW)
        worker = threading.Thread(target=second_worker)
        worker.start()
        time.sleep(0.5)  # the second worker is now blocked on the first one's uncommitted run row
        s1.commit()
        s1.close()
        worker.join(timeout=20)
    assert results["a"].runs_started == 1
    assert (results["b"].runs_started, results["b"].already_ran) == (0, 1)
    with pg_factory() as s:
        assert s.scalar(select(func.count()).select_from(AutomationRun)) == 1
        assert ledger.get_balance(s, cid).available == 75


def test_delayed_action_claimed_by_one_worker(pg_factory, actor):
    with unit_of_work(pg_factory) as s:
        cid = make_customer(s, actor, birthday=date(1990, 11, 20), tz="UTC")
        auto = make_automation(s, actor, {"type": "birthday", "catch_up_days": 0},
                               actions=[{"type": "grant_points", "points": 30, "delay_hours": 1}])
        service.evaluate_date_trigger(s, automation_id=auto.id, as_of=NOW)
    later = NOW + timedelta(hours=1)
    with clock.frozen_at(later):
        s1 = pg_factory()
        s1.begin()
        first = service.run_due_actions(s1, as_of=later)
        with unit_of_work(pg_factory) as s2:  # does not wait: the claimed row is skipped
            second = service.run_due_actions(s2, as_of=later)
        s1.commit()
        s1.close()
    assert (first.actions_done, second.actions_done) == (1, 0)
    with pg_factory() as s:
        assert ledger.get_balance(s, cid).available == 30


def test_event_committed_late_is_not_skipped(pg_factory, actor):
    """A transaction takes an interaction id, a second one takes a larger id and commits, the
    scan runs and moves its mark past both; then the first commits. Its row must still fire."""
    from loyalist.interactions import service as interactions

    with unit_of_work(pg_factory) as s:
        cid = make_customer(s, actor)
        auto = make_automation(s, actor, {"type": "case_resolved"}, at=NOW)
    slow = pg_factory()
    slow.begin()
    with clock.frozen_at(NOW):
        late_id = interactions.record(slow, customer_id=cid, kind="case_update", channel="system",
                                      summary="resolved (slow transaction)", data={"to": "resolved"}).id
        with unit_of_work(pg_factory) as s:
            seen_id = interactions.record(s, customer_id=cid, kind="case_update", channel="system",
                                          summary="resolved", data={"to": "resolved"}).id
    assert seen_id > late_id
    with clock.frozen_at(NOW + timedelta(seconds=5)), unit_of_work(pg_factory) as s:
        assert service.scan_events(s, automation_id=auto.id, as_of=NOW + timedelta(seconds=5)).runs_started == 1
    slow.commit()
    slow.close()
    with clock.frozen_at(NOW + timedelta(seconds=65)), unit_of_work(pg_factory) as s:
        result = service.scan_events(s, automation_id=auto.id, as_of=NOW + timedelta(seconds=65))
    assert (result.runs_started, result.late_commits_found) == (1, 1)
    with pg_factory() as s:
        keys = sorted(s.scalars(select(AutomationRun.instance_key).where(AutomationRun.automation_id == auto.id)))
    assert keys == sorted([f"interaction-{late_id}", f"interaction-{seen_id}"])

"""Event triggers from the timeline, each action's effect exactly once, delays, dry-run, rate
guard, conditions, enable/disable, and refusals that write nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from tests.automation.helpers import count, counts, daily, make_automation, make_customer, runs, scan

from loyalist import clock
from loyalist.automation import jobs, service
from loyalist.automation.models import Automation, AutomationAction
from loyalist.automation.schemas import AutomationCreate, AutomationUpdate
from loyalist.customers import service as customers
from loyalist.errors import ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerEntry
from loyalist.messaging.models import Message
from loyalist.tasks import service as tasks
from loyalist.tasks.models import Task

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def event(session, cid, kind, data, at=NOW):
    with clock.frozen_at(at):
        return interactions.record(session, customer_id=cid, kind=kind, channel="system", summary=f"{kind} happened",
                                   data=data).id


def test_history_before_creation_never_fires(session, actor):
    cid = make_customer(session, actor)
    event(session, cid, "case_update", {"to": "resolved"})
    auto = make_automation(session, actor, {"type": "case_resolved"}, at=NOW)
    scan(session, NOW)
    assert runs(session, auto.id) == []


@pytest.mark.parametrize("trigger, kind, hit, miss", [
    ({"type": "nps_detractor"}, "survey_answer", {"nps": 3, "nps_category": "detractor"},
     {"nps": 9, "nps_category": "promoter"}),
    ({"type": "case_resolved"}, "case_update", {"from": "open", "to": "resolved"}, {"from": "new", "to": "open"}),
    ({"type": "custom_event", "event_type": "app_installed"}, "custom", {"event_type": "app_installed"},
     {"event_type": "page_view"}),
    ({"type": "tier_change", "direction": "up"}, "tier_change",
     {"from_code": "silver", "to_code": "gold", "from_rank": 1, "to_rank": 2},
     {"from_code": "gold", "to_code": "silver", "from_rank": 2, "to_rank": 1}),
    ({"type": "tier_change", "to_tier": "gold"}, "tier_change",
     {"from_code": None, "to_code": "gold", "from_rank": None, "to_rank": 2},
     {"from_code": None, "to_code": "silver", "from_rank": None, "to_rank": 1}),
])
def test_event_triggers_fire_once_per_timeline_row(session, actor, trigger, kind, hit, miss):
    cid = make_customer(session, actor)
    auto = make_automation(session, actor, trigger)
    hit_id = event(session, cid, kind, hit)
    event(session, cid, kind, miss)
    event(session, cid, "note", hit)  # right data, wrong kind
    first = scan(session, NOW)
    assert first["runs_started"] == 1
    assert runs(session, auto.id) == [(cid, f"interaction-{hit_id}", "done")]
    # re-running the job: the mark has moved on, and the UNIQUE run key would refuse anyway
    assert scan(session, NOW)["runs_started"] == 0
    reset = session.get(Automation, auto.id)
    reset.cursor_interaction_id = 0
    session.flush()
    again = scan(session, NOW)
    assert (again["runs_started"], again["already_ran"]) == (0, 1)
    assert len(runs(session, auto.id)) == 1
    assert customers.get_customer(session, cid).tags == ["fired"]


def test_each_action_has_its_effect_exactly_once(session, actor):
    from loyalist.staff import service as staff
    from loyalist.staff.schemas import Role, StaffCreate

    boss = staff.create_staff(session, data=StaffCreate(email="boss@example.com", name="Boss", role=Role.manager),
                              actor=actor).id
    cid = make_customer(session, actor, email="ada@example.com", birthday=date(1990, 11, 20), tz="UTC")
    customers.add_tag(session, customer_id=cid, tag="lapsed", actor=actor)
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0}, actions=[
        {"type": "grant_points", "points": 250, "reason": "Happy birthday"},
        {"type": "send_message", "channel": "email", "subject": "Happy birthday", "text": "Many happy returns!"},
        {"type": "add_tag", "tag": "birthday-2026"},
        {"type": "remove_tag", "tag": "lapsed"},
        {"type": "create_task", "task_kind": "call", "title": "Birthday call", "due_in_hours": 4},
        {"type": "notify_manager", "assignee_id": boss, "title": "Birthday VIP"},
    ])
    daily(session, NOW)
    daily(session, NOW + timedelta(hours=1))
    run = service.list_runs(session, automation_id=auto.id).items
    assert len(run) == 1 and run[0].status == "done"
    assert [(a.type, a.status) for a in run[0].actions] == [
        ("grant_points", "done"), ("send_message", "done"), ("add_tag", "done"), ("remove_tag", "done"),
        ("create_task", "done"), ("notify_manager", "done")]
    assert ledger.get_balance(session, cid).available == 250
    assert session.scalar(select(func.count()).select_from(LedgerEntry)
                          .where(LedgerEntry.source == "automation")) == 1
    msgs = session.scalars(select(Message).where(Message.customer_id == cid)).all()
    assert [(m.channel, m.subject, m.source_type, m.source_id) for m in msgs] == [
        ("email", "Happy birthday", "automation", str(run[0].id))]
    assert customers.get_customer(session, cid).tags == ["birthday-2026"]
    made = tasks.list_tasks(session, customer_id=cid).items
    assert [(t.kind, t.title, t.assignee_id, t.due_at) for t in made] == [
        ("call", "Birthday call", None, NOW + timedelta(hours=4)), ("review", "Birthday VIP", boss, None)]
    timeline = interactions.list_timeline(session, cid, kinds=["automation"]).items
    assert [(r.source_type, r.data["instance_key"]) for r in timeline] == [("automation_run", "birthday-2026")]


def test_failed_action_is_recorded_and_others_still_run(session, actor):
    cid = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0}, actions=[
        {"type": "send_message", "channel": "email", "template": "no-such-template"},
        {"type": "add_tag", "tag": "greeted"},
    ])
    daily(session, NOW)
    run = service.list_runs(session, automation_id=auto.id).items[0]
    assert run.status == "partial"
    assert [(a.type, a.status) for a in run.actions] == [("send_message", "failed"), ("add_tag", "done")]
    assert "no-such-template" in run.actions[0].error
    assert count(session, Message) == 0
    assert customers.get_customer(session, cid).tags == ["greeted"]


def test_delayed_action_runs_after_its_time_only_and_once(session, actor):
    cid = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0}, actions=[
        {"type": "add_tag", "tag": "now"},
        {"type": "grant_points", "points": 40, "delay_hours": 48},
    ])
    daily(session, NOW)
    run = service.list_runs(session, automation_id=auto.id).items[0]
    assert run.status == "scheduled"
    assert [(a.status, a.due_at) for a in run.actions] == [("done", NOW), ("pending", NOW + timedelta(hours=48))]
    with clock.frozen_at(NOW + timedelta(hours=47, minutes=59)):
        assert jobs.delayed_actions(session)["actions_done"] == 0
    assert ledger.get_balance(session, cid).available == 0
    with clock.frozen_at(NOW + timedelta(hours=48)):
        assert jobs.delayed_actions(session)["actions_done"] == 1
        assert jobs.delayed_actions(session)["actions_done"] == 0
    assert ledger.get_balance(session, cid).available == 40
    run = service.list_runs(session, automation_id=auto.id).items[0]
    assert (run.status, run.finished_at) == ("done", NOW + timedelta(hours=48))


def test_delayed_action_of_a_disabled_automation_is_skipped(session, actor):
    cid = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0},
                           actions=[{"type": "grant_points", "points": 40, "delay_hours": 1}])
    daily(session, NOW)
    service.set_enabled(session, automation_id=auto.id, enabled=False, actor=actor)
    with clock.frozen_at(NOW + timedelta(hours=2)):
        jobs.delayed_actions(session)
    action = service.list_runs(session, automation_id=auto.id).items[0].actions[0]
    assert (action.status, action.error) == ("skipped", "automation disabled")
    assert ledger.get_balance(session, cid).available == 0


def test_dry_run_lists_who_and_writes_nothing(session, actor):
    a = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    b = make_customer(session, actor, birthday=date(1980, 11, 20), tz="UTC", name="Bo")
    make_customer(session, actor, birthday=date(1980, 11, 21), tz="UTC", name="Cy")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0},
                           actions=[{"type": "grant_points", "points": 10}])
    before = (counts(session), count(session, LedgerEntry), count(session, Task))
    result = service.dry_run(session, automation_id=auto.id, as_of=NOW)
    assert (result.count, [c.customer_id for c in result.customers]) == (2, [a, b])
    assert result.customers[0].instance_key == "birthday-2026"
    assert (counts(session), count(session, LedgerEntry), count(session, Task)) == before
    # an unsaved definition can be previewed too
    draft = AutomationCreate(name="draft", trigger={"type": "birthday", "catch_up_days": 0},
                             actions=[{"type": "add_tag", "tag": "x"}])
    assert service.dry_run(session, data=draft, as_of=NOW).count == 2
    daily(session, NOW)
    after = service.dry_run(session, automation_id=auto.id, as_of=NOW)
    assert (after.count, after.already_ran) == (0, 2)


def test_rate_guard_caps_runs_per_day_and_the_rest_wait(session, actor):
    ids = [make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC", name=f"C{i}") for i in range(3)]
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 1}, max_runs_per_day=2)
    first = daily(session, NOW)
    assert (first["runs_started"], first["rate_limited"]) == (2, 1)
    assert daily(session, NOW + timedelta(hours=3))["runs_started"] == 0
    # next day the catch-up window still holds the third customer
    assert daily(session, NOW + timedelta(days=1))["runs_started"] == 1
    assert sorted(r[0] for r in runs(session, auto.id)) == ids


def test_rate_guard_on_event_triggers_keeps_the_mark(session, actor):
    cid = make_customer(session, actor)
    auto = make_automation(session, actor, {"type": "case_resolved"}, max_runs_per_day=1)
    first = event(session, cid, "case_update", {"to": "resolved"})
    second = event(session, cid, "case_update", {"to": "resolved"})
    assert scan(session, NOW)["rate_limited"] == 1
    assert [r[1] for r in runs(session, auto.id)] == [f"interaction-{first}"]
    scan(session, NOW + timedelta(days=1))
    assert [r[1] for r in runs(session, auto.id)] == [f"interaction-{first}", f"interaction-{second}"]


def test_conditions_filter_by_segment_rule(session, actor):
    from loyalist.customers.schemas import CustomerUpdate

    da = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    en = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC", name="En")
    customers.update_customer(session, customer_id=da, data=CustomerUpdate(locale="da"), actor=actor)
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0},
                           conditions={"rule": {"field": "locale", "op": "eq", "value": "da"}})
    result = daily(session, NOW)
    assert (result["runs_started"], result["excluded_by_conditions"]) == (1, 1)
    assert runs(session, auto.id) == [(da, "birthday-2026", "done")]
    assert en not in [r[0] for r in runs(session, auto.id)]


@pytest.mark.parametrize("actions, conditions, field", [
    ([{"type": "grant_points"}], None, "actions.0.points"),
    ([{"type": "send_message", "channel": "email", "text": "hi"}], None, "actions.0.subject"),
    ([{"type": "send_message", "channel": "pigeon", "text": "hi"}], None, "actions.0.channel"),
    ([{"type": "add_tag", "tag": "!!"}], None, "actions.0.tag"),
    ([{"type": "notify_manager"}], None, "actions.0.assignee_id"),
    ([{"type": "issue_voucher", "offer_id": 99999}], None, "actions.0.offer_id"),
    ([{"type": "add_tag", "tag": "x"}], {"segment_id": 99999}, "conditions.segment_id"),
])
def test_bad_definitions_are_refused_naming_the_field(session, actor, actions, conditions, field):
    with pytest.raises(ValidationFailed) as err:
        service.create_automation(session, data=AutomationCreate(
            name="bad", trigger={"type": "birthday"}, actions=actions, conditions=conditions), actor=actor)
    assert err.value.field == field
    assert service.list_automations(session) == []


def test_disabled_automation_does_not_fire_and_update_is_audited(session, actor):
    from loyalist.audit.models import AuditEntry

    make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0}, enabled=False)
    daily(session, NOW)
    assert runs(session, auto.id) == []
    service.update_automation(session, automation_id=auto.id, data=AutomationUpdate(enabled=True), actor=actor)
    daily(session, NOW)
    assert len(runs(session, auto.id)) == 1
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "automation")
                              .order_by(AuditEntry.id)).all()
    assert actions == ["automation.create", "automation.update"]


def test_merge_moves_runs_so_nothing_fires_twice(session, actor):
    keep = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    dup = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC", name="Dup")
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 0})
    daily(session, NOW)
    customers.merge_customers(session, survivor_id=keep, duplicate_id=dup, actor=actor)
    assert sorted(runs(session, auto.id)) == sorted([(keep, "birthday-2026", "done"),
                                                      (dup, "birthday-2026", "done")])
    daily(session, NOW)
    assert len(runs(session, auto.id)) == 2
    assert session.scalar(select(func.count()).select_from(AutomationAction)) == 2


def test_issue_voucher_gives_the_offer_once(session, actor):
    from loyalist.offers import service as offers
    from loyalist.offers.schemas import OfferCreate

    cid = make_customer(session, actor, birthday=date(1990, 11, 20), tz="UTC")
    with clock.frozen_at(NOW):
        offer = offers.create_offer(session, data=OfferCreate(name="Birthday cake", kind="generic",
                                                              reward_type="percent", discount_value=10),
                                    actor=actor)
    auto = make_automation(session, actor, {"type": "birthday", "catch_up_days": 1},
                           actions=[{"type": "issue_voucher", "offer_id": offer.id}])
    daily(session, NOW)
    daily(session, NOW + timedelta(days=1))
    run = service.list_runs(session, automation_id=auto.id).items
    assert len(run) == 1 and run[0].actions[0].status == "done", run[0].actions[0].error
    assert run[0].actions[0].result["offer_id"] == offer.id
    issue = offers.get_issue(session, run[0].actions[0].result["issued_offer_id"])
    assert (issue.customer_id, issue.offer_id) == (cid, offer.id)
    assert len(offers.list_customer_offers(session, cid)) == 1


def test_jobs_are_discovered_by_the_worker():
    from loyalist.worker.jobs import discover_jobs

    found = discover_jobs()
    assert {name: found[name][1] for name in jobs.JOBS} == {
        "automation.scan_timeline": 60, "automation.daily": 3600, "automation.delayed_actions": 300}


def test_dry_run_of_an_event_trigger_shows_pending_events(session, actor):
    cid = make_customer(session, actor)
    auto = make_automation(session, actor, {"type": "nps_detractor"})
    iid = event(session, cid, "survey_answer", {"nps": 2, "nps_category": "detractor"})
    preview = service.dry_run(session, automation_id=auto.id, as_of=NOW)
    assert [(c.customer_id, c.instance_key) for c in preview.customers] == [(cid, f"interaction-{iid}")]
    assert service.get_automation(session, auto.id).cursor_interaction_id == iid - 1
    assert runs(session, auto.id) == []
    scan(session, NOW)
    assert service.dry_run(session, automation_id=auto.id, as_of=NOW).count == 0


def test_a_row_committed_after_the_mark_passed_it_still_fires_once(session, actor):
    """Simulates PostgreSQL's late commit (ids are handed out before commit): the row is out of
    the scan's sight while the mark moves past it, then appears with its old, smaller id (the
    real race on PostgreSQL is in test_concurrency.py)."""
    from loyalist.interactions.models import Interaction

    cid = make_customer(session, actor)
    auto = make_automation(session, actor, {"type": "case_resolved"}, at=NOW)
    late_id = event(session, cid, "note", {"to": "resolved"})  # not a case update yet: unseen
    seen_id = event(session, cid, "case_update", {"to": "resolved"})
    first = scan(session, NOW + timedelta(seconds=10))
    assert first["runs_started"] == 1
    assert session.get(Automation, auto.id).cursor_interaction_id >= seen_id > late_id
    session.execute(Interaction.__table__.update().where(Interaction.id == late_id)
                    .values(kind="case_update"))  # the late commit lands
    second = scan(session, NOW + timedelta(seconds=70))
    assert (second["runs_started"], second["late_commits_found"]) == (1, 1)
    assert sorted(r[1] for r in runs(session, auto.id)) == sorted([f"interaction-{late_id}",
                                                                    f"interaction-{seen_id}"])
    # scanning again inside the window re-reads the young rows but fires nothing twice
    assert scan(session, NOW + timedelta(seconds=130))["runs_started"] == 0
    # once the rows are older than the settle window, the settled mark passes them
    scan(session, NOW + timedelta(minutes=10))
    scan(session, NOW + timedelta(minutes=20))
    assert session.get(Automation, auto.id).settled_interaction_id >= seen_id

"""SLA due instants on cases (business hours, holidays, pause while waiting), breach scan and
escalation (idempotent), immediate escalation of high/critical, routing by category."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.cases import service
from loyalist.cases.models import CaseEscalation
from loyalist.cases.schemas import BusinessHoursIn, HolidayIn, IntervalIn, RoutingRuleIn, SlaPolicyIn
from loyalist.errors import ValidationFailed
from loyalist.staff.schemas import Role
from loyalist.tasks import service as tasks

from .conftest import at, make_customer, make_staff, new_case, snapshot


def test_due_instants_on_creation_cross_the_weekend(session, actor) -> None:
    with clock.frozen_at(at(6, 15)):  # Friday 15:00, normal = 240 / 2400 business minutes
        case = new_case(session, actor)
    assert case.first_response_due_at == at(9, 11)   # 2 h Friday + 2 h Monday
    assert case.resolution_due_at == at(13, 15)      # 2 h + 4 x 8 h + 6 h
    assert case.sla_policy == "normal"


def test_holiday_moves_the_due_instant(session, actor) -> None:
    service.add_holiday(session, data=HolidayIn(day=date(2026, 3, 9), name="Staff day"), actor=actor)
    with clock.frozen_at(at(6, 15)):
        case = new_case(session, actor)
    assert case.first_response_due_at == at(10, 11)


def test_configured_policy_and_calendar(session, actor) -> None:
    service.set_sla_policy(session, name="normal", data=SlaPolicyIn(first_response_minutes=30,
                                                                    resolution_minutes=600), actor=actor)
    # Saturday mornings open too.
    service.set_business_hours(session, actor=actor, data=BusinessHoursIn(intervals=[
        IntervalIn(weekday=d, opens="09:00", closes="17:00") for d in range(5)
    ] + [IntervalIn(weekday=5, opens="10:00", closes="14:00")]))
    with clock.frozen_at(at(6, 16, 45)):  # Friday 16:45
        case = new_case(session, actor)
    assert case.first_response_due_at == at(7, 10, 15)    # 15 min Friday, 15 min Saturday
    assert case.resolution_due_at == at(9, 14, 45)        # 10 h: 15 min + 4 h Sat + 5 h 45 Mon
    with pytest.raises(ValidationFailed) as err:
        service.set_business_hours(session, actor=actor, data=BusinessHoursIn(intervals=[
            IntervalIn(weekday=0, opens="17:00", closes="09:00")]))
    assert err.value.field == "intervals.0.closes"
    assert len(service.get_calendar(session).intervals) == 6


def test_waiting_for_the_customer_pauses_the_resolution_clock(session, actor) -> None:
    with clock.frozen_at(at(2, 9)):  # Monday: resolution due Friday 17:00
        case = new_case(session, actor)
        assert case.resolution_due_at == at(6, 17)
    with clock.frozen_at(at(2, 10)):
        service.acknowledge(session, case_id=case.id, text="Sorry", actor=actor)
    with clock.frozen_at(at(2, 12)):
        paused = service.transition(session, case_id=case.id, to="waiting_for_customer", actor=actor)
    assert (paused.resolution_due_at, paused.sla_paused_at) == (None, at(2, 12))
    assert paused.sla_remaining_seconds == 37 * 3600
    with clock.frozen_at(at(4, 14)):  # the customer answers on Wednesday 14:00
        service.customer_reply(session, case_id=case.id, customer_id=case.customer_id, text="Photo attached",
                               actor=actor)
    resumed = service.get_case(session, case.id)
    # 37 h from Wednesday 14:00: 3 + 8 + 8 + 8 + 8 = 35 by Tuesday night, 2 h on Wednesday.
    assert (resumed.state, resumed.resolution_due_at, resumed.sla_remaining_seconds) == (
        "in_progress", at(11, 11), None)
    # Nothing in the paused time can breach.
    with clock.frozen_at(at(10, 9)):
        assert service.scan_breaches(session).resolution_breaches == 0


def test_breach_scan_marks_and_escalates_once(session, actor) -> None:
    manager = make_staff(session, actor, Role.manager, name="Mona Manager")
    with clock.frozen_at(at(2, 9)):
        case = new_case(session, actor, severity="low")  # first response 480 min -> Monday 17:00
    with clock.frozen_at(at(2, 16, 59)):
        result = service.scan_breaches(session)
        assert (result.first_response_breaches, result.escalations) == (0, 0)
        assert service.list_cases(session, breached=True).total == 0
    with clock.frozen_at(at(3, 9)):
        assert service.list_cases(session, breached=True).total == 1  # overdue shows before the scan
        result = service.scan_breaches(session)
        assert (result.first_response_breaches, result.resolution_breaches, result.escalations) == (1, 0, 1)
        again = service.scan_breaches(session)
        assert (again.first_response_breaches, again.resolution_breaches, again.escalations) == (0, 0, 0)
    case = service.get_case(session, case.id)
    assert (case.first_response_breached_at, case.escalation_level, case.escalated_to_id) == (at(2, 17), 1, manager)
    [esc] = service.list_escalations(session, case.id)
    assert (esc.reason, esc.manager_id) == ("first_response_breach", manager)
    task_page = tasks.list_tasks(session, customer_id=case.customer_id)
    assert [(t.id, t.assignee_id, t.source_type, t.source_id) for t in task_page.items] == [
        (esc.task_id, manager, "case", str(case.id))]
    assert service.list_cases(session, breached=False).total == 0


def test_resolution_breach_and_late_acknowledgement(session, actor) -> None:
    make_staff(session, actor, Role.manager)
    with clock.frozen_at(at(2, 9)):
        case = new_case(session, actor)  # first response Monday 13:00, resolution Friday 17:00
    with clock.frozen_at(at(2, 14)):
        late = service.acknowledge(session, case_id=case.id, text="Sorry for the delay", actor=actor)
    assert late.first_response_breached_at == at(2, 13)
    with clock.frozen_at(at(9, 9)):
        result = service.scan_breaches(session)
    assert (result.first_response_breaches, result.resolution_breaches, result.escalations) == (0, 1, 1)
    assert service.get_case(session, case.id).resolution_breached_at == at(6, 17)


def test_high_severity_escalates_immediately(session, actor, frozen) -> None:
    manager = make_staff(session, actor, Role.manager)
    case = new_case(session, actor, severity="critical")
    assert (case.escalation_level, case.escalated_to_id) == (1, manager)
    assert [e.reason for e in service.list_escalations(session, case.id)] == ["severity_critical"]
    assert case.first_response_due_at == at(2, 9, 30)
    low = new_case(session, actor, severity="low")
    assert low.escalation_level == 0 and service.list_escalations(session, low.id) == []


def test_escalation_without_any_manager_is_still_recorded(session, actor, frozen) -> None:
    case = new_case(session, actor, severity="high")
    [esc] = service.list_escalations(session, case.id)
    assert esc.manager_id is None and esc.task_id is not None
    count = session.scalar(select(func.count()).select_from(CaseEscalation).where(CaseEscalation.case_id == case.id))
    assert count == 1


def test_routing_to_the_product_expert(session, actor, frozen) -> None:
    expert = make_staff(session, actor, name="Peter Product")
    boss = make_staff(session, actor, Role.manager)
    other = make_staff(session, actor)
    rule = service.set_routing_rule(session, actor=actor, data=RoutingRuleIn(
        category="product", assignee_id=expert, team="product desk", manager_id=boss))
    routed = new_case(session, actor, category="product")
    assert (routed.assignee_id, routed.team, routed.routing_rule_id) == (expert, "product desk", rule.id)
    explicit = new_case(session, actor, category="product", assignee_id=other)
    assert explicit.assignee_id == other
    unrouted = new_case(session, actor, category="billing")
    assert (unrouted.assignee_id, unrouted.routing_rule_id) == (None, None)
    # The routing rule's manager receives the escalation.
    urgent = new_case(session, actor, category="product", severity="high")
    assert urgent.escalated_to_id == boss


def test_invalid_input_names_the_field(session, actor, frozen) -> None:
    cid = make_customer(session, actor)
    for field, bad in (("category", "weather"), ("channel", "pigeon"), ("assignee_id", 999999)):
        with pytest.raises(ValidationFailed) as err:
            new_case(session, actor, customer_id=cid, **{field: bad})
        assert err.value.field == field
    assert service.list_cases(session, customer_id=cid).total == 0
    with pytest.raises(ValidationFailed) as err:
        service.set_routing_rule(session, actor=actor, data=RoutingRuleIn(category="nope", team="x"))
    assert err.value.field == "category"


def test_assign_and_comment(session, actor, frozen) -> None:
    case = new_case(session, actor)
    person = make_staff(session, actor)
    assert service.assign(session, case_id=case.id, assignee_id=person, team="desk", actor=actor).assignee_id == person
    note = service.comment(session, case_id=case.id, text="Called twice, no answer", actor=actor)
    assert (note.kind, note.note) == ("comment", "Called twice, no answer")
    before = snapshot(session, case.id)
    with pytest.raises(ValidationFailed):
        service.assign(session, case_id=case.id, assignee_id=424242, actor=actor)
    assert snapshot(session, case.id) == before


def test_the_worker_runs_the_breach_scan_every_five_minutes() -> None:
    from loyalist.cases import jobs
    from loyalist.worker.jobs import discover_jobs

    assert discover_jobs()["cases.scan_breaches"] == (jobs.scan_breaches, 300)


def test_sla_summary_for_the_dashboard(session, actor) -> None:
    assert service.sla_summary(session) == {}
    with clock.frozen_at(at(2, 9)):
        on_time = new_case(session, actor).id      # first response due 13:00
        late = new_case(session, actor).id
        new_case(session, actor)                   # still new
    with clock.frozen_at(at(2, 10)):
        service.acknowledge(session, case_id=on_time, text="Sorry", actor=actor)
        service.add_action(session, case_id=on_time, description="Fixed", actor=actor)
        service.resolve(session, case_id=on_time, resolution="Fixed", actor=actor)
        service.record_follow_up(session, case_id=on_time, csat=4, actor=actor)
    with clock.frozen_at(at(2, 14)):
        service.acknowledge(session, case_id=late, text="Sorry for the wait", actor=actor)
    with clock.frozen_at(at(2, 15)):
        assert service.sla_summary(session) == {
            "open_cases": 2, "breached_open_cases": 2, "opened_last_days": 3,
            "first_response_within_sla": "50% of 2", "resolved_within_sla": "100% of 1", "average_csat": "4.0",
        }

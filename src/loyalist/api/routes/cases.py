"""Complaint cases: open, list/filter, the state machine, recovery steps, SLA configuration,
routing rules and the breach scan. See docs/cases.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.cases import service
from loyalist.cases.schemas import (
    AcknowledgeRequest,
    ActionRequest,
    AssignRequest,
    BreachScanResult,
    BusinessHoursIn,
    CalendarRead,
    CaseActionRead,
    CaseCreate,
    CaseEventRead,
    CasePage,
    CaseRead,
    CategoryIn,
    CategoryRead,
    CommentRequest,
    CompensationRequest,
    EscalationRead,
    FollowUpRequest,
    HolidayIn,
    LinkCustomerRequest,
    ResolveRequest,
    RoutingRuleIn,
    RoutingRuleRead,
    Severity,
    SlaPolicyIn,
    SlaPolicyRead,
    State,
    TransitionRequest,
)
from loyalist.errors import ValidationFailed
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["cases"])


@router.post("/cases", status_code=201, response_model=CaseRead)
def create_case(body: CaseCreate, session: SessionDep, actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    """Open a case. Without `assignee_id` the category's routing rule assigns it; high and
    critical severity escalate to a manager at once."""
    return service.create_case(session, data=body, actor=actor)


@router.get("/cases", response_model=CasePage)
def list_cases(session: SessionDep, actor: Annotated[Actor, Permit("cases:read")],
               state: State | None = None, assignee_id: int | None = None, severity: Severity | None = None,
               breached: bool | None = None, category: str | None = None, customer_id: int | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> CasePage:
    return service.list_cases(session, state=state, assignee_id=assignee_id, severity=severity, breached=breached,
                              category=category, customer_id=customer_id, limit=limit, offset=offset)


@router.post("/cases/scan-breaches", response_model=BreachScanResult)
def scan_breaches(session: SessionDep, actor: Annotated[Actor, Permit("cases:manage")]) -> BreachScanResult:
    """Run the SLA breach scan now (the worker runs it as `cases.scan_breaches`)."""
    return service.scan_breaches(session, actor=actor)


@router.get("/cases/{case_id}", response_model=CaseRead)
def get_case(case_id: int, session: SessionDep, actor: Annotated[Actor, Permit("cases:read")]) -> CaseRead:
    return service.get_case(session, case_id)


@router.get("/cases/{case_id}/events", response_model=list[CaseEventRead])
def list_events(case_id: int, session: SessionDep,
                actor: Annotated[Actor, Permit("cases:read")]) -> list[CaseEventRead]:
    """The case history: transitions, apology, actions, compensation, comments, escalations."""
    return service.list_events(session, case_id)


@router.get("/cases/{case_id}/actions", response_model=list[CaseActionRead])
def list_actions(case_id: int, session: SessionDep,
                 actor: Annotated[Actor, Permit("cases:read")]) -> list[CaseActionRead]:
    return service.list_actions(session, case_id)


@router.get("/cases/{case_id}/escalations", response_model=list[EscalationRead])
def list_escalations(case_id: int, session: SessionDep,
                     actor: Annotated[Actor, Permit("cases:read")]) -> list[EscalationRead]:
    return service.list_escalations(session, case_id)


@router.post("/cases/{case_id}/transition", response_model=CaseRead)
def transition(case_id: int, body: TransitionRequest, session: SessionDep,
               actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    """Move along one legal edge; an illegal edge or unmet checklist step is 409 invalid_state
    and changes nothing."""
    return service.transition(session, case_id=case_id, to=body.to, note=body.note,
                              override_reason=body.override_reason, actor=actor)


@router.post("/cases/{case_id}/acknowledge", response_model=CaseRead)
def acknowledge(case_id: int, body: AcknowledgeRequest, session: SessionDep,
                actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    return service.acknowledge(session, case_id=case_id, text=body.text, actor=actor)


@router.post("/cases/{case_id}/actions", status_code=201, response_model=CaseActionRead)
def add_action(case_id: int, body: ActionRequest, session: SessionDep,
               actor: Annotated[Actor, Permit("cases:write")]) -> CaseActionRead:
    return service.add_action(session, case_id=case_id, description=body.description, actor=actor)


@router.post("/cases/{case_id}/compensations", status_code=201, response_model=CaseActionRead)
def compensate(case_id: int, body: CompensationRequest, session: SessionDep,
               actor: Annotated[Actor, Permit("ledger:compensate")],
               idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> CaseActionRead:
    """Points, a catalogue voucher or a gesture. Send `Idempotency-Key` (or `compensation_id`):
    retrying the same request returns the first compensation and posts nothing."""
    if idempotency_key and body.compensation_id and idempotency_key != body.compensation_id:
        raise ValidationFailed("compensation_id: differs from the Idempotency-Key header", field="compensation_id")
    data = body.model_copy(update={"compensation_id": body.compensation_id or idempotency_key})
    return service.compensate(session, case_id=case_id, data=data, actor=actor)


@router.post("/cases/{case_id}/resolve", response_model=CaseRead)
def resolve(case_id: int, body: ResolveRequest, session: SessionDep,
            actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    return service.resolve(session, case_id=case_id, resolution=body.resolution, actor=actor)


@router.post("/cases/{case_id}/follow-up", response_model=CaseRead)
def follow_up(case_id: int, body: FollowUpRequest, session: SessionDep,
              actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    """Record the follow-up contact and CSAT (1-5). CSAT 1-2: `suggest_reopen` is true and the
    case cannot be closed without a manager's override."""
    return service.record_follow_up(session, case_id=case_id, csat=body.csat, comment=body.comment,
                                    channel=body.channel, actor=actor)


@router.post("/cases/{case_id}/assign", response_model=CaseRead)
def assign(case_id: int, body: AssignRequest, session: SessionDep,
           actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    return service.assign(session, case_id=case_id, assignee_id=body.assignee_id, team=body.team, actor=actor)


@router.post("/cases/{case_id}/customer", response_model=CaseRead)
def link_customer(case_id: int, body: LinkCustomerRequest, session: SessionDep,
                  actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    """Attach the customer to a case opened from a review/mention by an unknown author."""
    return service.link_customer(session, case_id=case_id, customer_id=body.customer_id, actor=actor)


@router.post("/cases/{case_id}/comments", status_code=201, response_model=CaseEventRead)
def comment(case_id: int, body: CommentRequest, session: SessionDep,
            actor: Annotated[Actor, Permit("cases:write")]) -> CaseEventRead:
    return service.comment(session, case_id=case_id, text=body.text, actor=actor)


@router.post("/cases/{case_id}/escalate", response_model=CaseRead)
def escalate(case_id: int, session: SessionDep, actor: Annotated[Actor, Permit("cases:write")]) -> CaseRead:
    """Send a serious problem to a manager now (once per case and cycle)."""
    return service.escalate(session, case_id=case_id, actor=actor)


# --- configuration ----------------------------------------------------------------------------

@router.get("/case-config/sla-policies", response_model=list[SlaPolicyRead])
def list_sla_policies(session: SessionDep, actor: Annotated[Actor, Permit("cases:read")]) -> list[SlaPolicyRead]:
    return service.list_sla_policies(session)


@router.put("/case-config/sla-policies/{name}", response_model=SlaPolicyRead)
def set_sla_policy(name: str, body: SlaPolicyIn, session: SessionDep,
                   actor: Annotated[Actor, Permit("cases:manage")]) -> SlaPolicyRead:
    """Business-minute budgets of a severity (or `public_response`)."""
    return service.set_sla_policy(session, name=name, data=body, actor=actor)


@router.delete("/case-config/sla-policies/{name}", response_model=SlaPolicyRead)
def reset_sla_policy(name: str, session: SessionDep,
                     actor: Annotated[Actor, Permit("cases:manage")]) -> SlaPolicyRead:
    return service.reset_sla_policy(session, name=name, actor=actor)


@router.get("/case-config/calendar", response_model=CalendarRead)
def get_calendar(session: SessionDep, actor: Annotated[Actor, Permit("cases:read")]) -> CalendarRead:
    return service.get_calendar(session)


@router.put("/case-config/calendar/hours", response_model=CalendarRead)
def set_business_hours(body: BusinessHoursIn, session: SessionDep,
                       actor: Annotated[Actor, Permit("cases:manage")]) -> CalendarRead:
    return service.set_business_hours(session, data=body, actor=actor)


@router.post("/case-config/calendar/holidays", status_code=201, response_model=CalendarRead)
def add_holiday(body: HolidayIn, session: SessionDep, actor: Annotated[Actor, Permit("cases:manage")]) -> CalendarRead:
    return service.add_holiday(session, data=body, actor=actor)


@router.delete("/case-config/calendar/holidays/{day}", response_model=CalendarRead)
def remove_holiday(day: date, session: SessionDep, actor: Annotated[Actor, Permit("cases:manage")]) -> CalendarRead:
    return service.remove_holiday(session, day=day, actor=actor)


@router.get("/case-config/categories", response_model=list[CategoryRead])
def list_categories(session: SessionDep, actor: Annotated[Actor, Permit("cases:read")]) -> list[CategoryRead]:
    return service.list_categories(session)


@router.put("/case-config/categories", response_model=CategoryRead)
def upsert_category(body: CategoryIn, session: SessionDep,
                    actor: Annotated[Actor, Permit("cases:manage")]) -> CategoryRead:
    return service.upsert_category(session, data=body, actor=actor)


@router.get("/case-config/routing-rules", response_model=list[RoutingRuleRead])
def list_routing_rules(session: SessionDep,
                       actor: Annotated[Actor, Permit("cases:read")]) -> list[RoutingRuleRead]:
    return service.list_routing_rules(session)


@router.put("/case-config/routing-rules", response_model=RoutingRuleRead)
def set_routing_rule(body: RoutingRuleIn, session: SessionDep,
                     actor: Annotated[Actor, Permit("cases:manage")]) -> RoutingRuleRead:
    """Create or replace the rule of `category`: product expert, team, escalation manager."""
    return service.set_routing_rule(session, data=body, actor=actor)


@router.delete("/case-config/routing-rules/{rule_id}", status_code=204)
def delete_routing_rule(rule_id: int, session: SessionDep, actor: Annotated[Actor, Permit("cases:manage")]) -> None:
    service.delete_routing_rule(session, rule_id=rule_id, actor=actor)

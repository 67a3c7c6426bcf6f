"""Automations: define trigger/conditions/actions, enable/disable, dry-run (who would be affected,
nothing written), run now, run history; the holiday calendar used by holiday triggers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from loyalist.api.deps import Permit, SessionDep
from loyalist.automation import service
from loyalist.automation.schemas import (
    AutomationCreate,
    AutomationRead,
    AutomationUpdate,
    DryRunResult,
    EvaluationResult,
    HolidayCreate,
    HolidayRead,
    RunPage,
)
from loyalist.customers import service as customers_service
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["automations"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]


@router.get("/automations", response_model=list[AutomationRead])
def list_automations(session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
                     enabled: bool | None = None) -> list[AutomationRead]:
    return service.list_automations(session, enabled=enabled)


@router.post("/automations", status_code=201, response_model=AutomationRead)
def create_automation(body: AutomationCreate, session: SessionDep,
                      actor: Annotated[Actor, Permit("automations:write")]) -> AutomationRead:
    return service.create_automation(session, data=body, actor=actor)


@router.post("/automations/dry-run", response_model=DryRunResult)
def dry_run_draft(body: AutomationCreate, session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
                  as_of: datetime | None = None, limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> DryRunResult:
    """Preview an unsaved definition: who it would select now (nothing is written)."""
    return service.dry_run(session, data=body, as_of=as_of, limit=limit)


@router.get("/automations/{automation_id}", response_model=AutomationRead)
def get_automation(automation_id: int, session: SessionDep,
                   actor: Annotated[Actor, Permit("automations:read")]) -> AutomationRead:
    return service.get_automation(session, automation_id)


@router.patch("/automations/{automation_id}", response_model=AutomationRead)
def update_automation(automation_id: int, body: AutomationUpdate, session: SessionDep,
                      actor: Annotated[Actor, Permit("automations:write")]) -> AutomationRead:
    return service.update_automation(session, automation_id=automation_id, data=body, actor=actor)


@router.post("/automations/{automation_id}/enable", response_model=AutomationRead)
def enable(automation_id: int, session: SessionDep,
           actor: Annotated[Actor, Permit("automations:write")]) -> AutomationRead:
    return service.set_enabled(session, automation_id=automation_id, enabled=True, actor=actor)


@router.post("/automations/{automation_id}/disable", response_model=AutomationRead)
def disable(automation_id: int, session: SessionDep,
            actor: Annotated[Actor, Permit("automations:write")]) -> AutomationRead:
    """Stops new runs; delayed actions still pending are skipped when their time comes."""
    return service.set_enabled(session, automation_id=automation_id, enabled=False, actor=actor)


@router.post("/automations/{automation_id}/dry-run", response_model=DryRunResult)
def dry_run(automation_id: int, session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
            as_of: datetime | None = None, limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> DryRunResult:
    """Who would be affected if it ran now (count and list); nothing is written."""
    return service.dry_run(session, automation_id=automation_id, as_of=as_of, limit=limit)


@router.post("/automations/{automation_id}/run", response_model=EvaluationResult)
def run_now(automation_id: int, session: SessionDep,
            actor: Annotated[Actor, Permit("automations:write")]) -> EvaluationResult:
    """Evaluate now instead of waiting for the worker; instances that already ran are skipped."""
    return service.run_automation(session, automation_id=automation_id, actor=actor)


@router.get("/automations/{automation_id}/runs", response_model=RunPage)
def list_runs(automation_id: int, session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
              status: str | None = None, limit: Limit = 50, offset: Offset = 0) -> RunPage:
    return service.list_runs(session, automation_id=automation_id, status=status, limit=limit, offset=offset)


@router.get("/customers/{customer_id}/automation-runs", response_model=RunPage)
def customer_runs(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
                  limit: Limit = 50, offset: Offset = 0) -> RunPage:
    customers_service.get_customer(session, customer_id)
    return service.list_runs(session, customer_id=customer_id, limit=limit, offset=offset)


@router.get("/automation-holidays", response_model=list[HolidayRead])
def list_holidays(session: SessionDep, actor: Annotated[Actor, Permit("automations:read")],
                  year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> list[HolidayRead]:
    return service.list_holidays(session, year=year)


@router.post("/automation-holidays", status_code=201, response_model=HolidayRead)
def add_holiday(body: HolidayCreate, session: SessionDep,
                actor: Annotated[Actor, Permit("automations:write")]) -> HolidayRead:
    return service.add_holiday(session, data=body, actor=actor)


@router.delete("/automation-holidays/{holiday_id}", status_code=204)
def delete_holiday(holiday_id: int, session: SessionDep,
                   actor: Annotated[Actor, Permit("automations:write")]) -> Response:
    service.delete_holiday(session, holiday_id=holiday_id, actor=actor)
    return Response(status_code=204)

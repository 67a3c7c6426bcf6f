"""Staff flags on unhappy customers, the manager's queue, and the recognition leaderboard."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.cases import service
from loyalist.cases.schemas import CustomerFlagSummary, FlagCreate, FlagDecision, FlagPage, FlagRead, LeaderboardRow
from loyalist.customers import service as customers_service
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["flags"])


@router.post("/flags", status_code=201, response_model=FlagRead)
def create_flag(body: FlagCreate, session: SessionDep, actor: Annotated[Actor, Permit("flags:write")]) -> FlagRead:
    """Flag an unhappy customer. `staff_id` defaults to the staff user the key belongs to."""
    return service.flag_customer(session, customer_id=body.customer_id, reason_code=body.reason_code,
                                 note=body.note, staff_id=body.staff_id, actor=actor)


@router.get("/flags", response_model=FlagPage)
def list_flags(session: SessionDep, actor: Annotated[Actor, Permit("flags:write")],
               status: Literal["open", "confirmed", "dismissed"] | None = None, customer_id: int | None = None,
               staff_id: int | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> FlagPage:
    """`status=open` is the manager's queue, oldest first."""
    return service.list_flags(session, status=status, customer_id=customer_id, staff_id=staff_id, limit=limit,
                              offset=offset)


@router.get("/flags/leaderboard", response_model=list[LeaderboardRow])
def leaderboard(session: SessionDep, actor: Annotated[Actor, Permit("flags:write")],
                period: str | None = None) -> list[LeaderboardRow]:
    """Staff recognition points for confirmed flags in a month (`YYYY-MM`, default this month)."""
    return service.leaderboard(session, period=period)


@router.get("/flags/{flag_id}", response_model=FlagRead)
def get_flag(flag_id: int, session: SessionDep, actor: Annotated[Actor, Permit("flags:write")]) -> FlagRead:
    return service.get_flag(session, flag_id)


@router.post("/flags/{flag_id}/confirm", response_model=FlagRead)
def confirm_flag(flag_id: int, session: SessionDep, actor: Annotated[Actor, Permit("flags:confirm")],
                 body: Annotated[FlagDecision | None, Body()] = None) -> FlagRead:
    return service.confirm_flag(session, flag_id=flag_id, note=body.note if body else None, actor=actor)


@router.post("/flags/{flag_id}/dismiss", response_model=FlagRead)
def dismiss_flag(flag_id: int, session: SessionDep, actor: Annotated[Actor, Permit("flags:confirm")],
                 body: Annotated[FlagDecision | None, Body()] = None) -> FlagRead:
    return service.dismiss_flag(session, flag_id=flag_id, note=body.note if body else None, actor=actor)


@router.get("/customers/{customer_id}/flag-summary", response_model=CustomerFlagSummary)
def flag_summary(customer_id: int, session: SessionDep,
                 actor: Annotated[Actor, Permit("customers:read")]) -> CustomerFlagSummary:
    """Open/confirmed flags, open and breached cases, last CSAT: what churn risk reads."""
    customers_service.get_customer(session, customer_id)
    return service.customer_summary(session, customer_id)

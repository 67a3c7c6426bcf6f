"""Case queue with SLA timers, and one case with the service-recovery checklist:
acknowledge (apology) -> actions -> compensation (points / voucher / gesture) -> resolve ->
follow-up with CSAT -> close. Every step is a form posting to the cases service."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from loyalist import clock
from loyalist.errors import DomainError, NotFound
from loyalist.staff.sessions import ConsoleSession
from loyalist.web import domains
from loyalist.web.auth import DbDep, needs
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
PAGE = 25


def _svc() -> Any:
    svc = domains.service("cases")
    if svc is None:
        raise NotFound("the cases module is not installed")
    return svc


def time_left(due: datetime | None, now: datetime) -> str:
    """'3h 20m left' / 'overdue by 2d 4h' (the page's JavaScript keeps it current)."""
    if due is None:
        return "—"
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    hours, days = minutes // 60, minutes // 1440
    text = f"{days}d {hours % 24}h" if days else f"{hours}h {minutes % 60}m" if hours else f"{minutes}m"
    return f"overdue by {text}" if seconds < 0 else f"{text} left"


def due_of(case: Any) -> datetime | None:
    """The SLA clock that is running: first response until acknowledged, then resolution."""
    if case.state == "new":
        return case.first_response_due_at  # type: ignore[no-any-return]
    if case.state in {"acknowledged", "in_progress", "waiting_for_customer"} and case.sla_paused_at is None:
        return case.resolution_due_at  # type: ignore[no-any-return]
    return None


@router.get("/cases")
def queue(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("cases:read"))],
          state: str = "", severity: str = "", breached: str = "", mine: str = "",
          offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc()
    from loyalist.cases.state import STATES

    errors: dict[str, str] = {}
    page = None
    try:
        page = svc.list_cases(db, state=state or None, severity=severity or None,
                              breached={"yes": True, "no": False}.get(breached),
                              assignee_id=me.actor.id if mine else None, limit=PAGE, offset=offset)
    except DomainError as exc:
        errors = errors_of(exc)
    now = clock.now()
    return render(request, "cases.html", title="Cases", page=page, errors=errors, states=STATES,
                  severities=_severities(), form={"state": state, "severity": severity, "breached": breached,
                                                  "mine": mine},
                  due_of=due_of, time_left=lambda d: time_left(d, now),
                  page_href=lambda o: url(request, "/cases", state=state, severity=severity, breached=breached,
                                          mine=mine, offset=o))


def _severities() -> tuple[str, ...]:
    try:
        from loyalist.cases.schemas import SEVERITIES
        return tuple(SEVERITIES)
    except ImportError:
        return ("low", "normal", "high", "critical")


def case_context(request: Request, db: Any, me: ConsoleSession, case_id: int) -> dict[str, Any]:
    svc = _svc()
    case = svc.get_case(db, case_id)
    from loyalist.customers import service as customers
    from loyalist.rewards import service as rewards

    now = clock.now()
    return {
        # a case opened from a public review may have no known customer yet
        "case": case, "customer": customers.get_customer(db, case.customer_id) if case.customer_id else None,
        "events": svc.list_events(db, case_id), "actions": svc.list_actions(db, case_id),
        "rewards": rewards.list_rewards(db, active=True), "due": due_of(case),
        "time_left": lambda d: time_left(d, now),
        "forms": {"compensate": {"compensation_id": secrets.token_urlsafe(10), "kind": "points"}},
        "errs": {},
    }


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: int, db: DbDep,
              me: Annotated[ConsoleSession, Depends(needs("cases:read"))]) -> Response:
    ctx = case_context(request, db, me, case_id)
    return render(request, "case.html", title=f"Case #{case_id}", **ctx)


async def _step(request: Request, db: Any, me: ConsoleSession, case_id: int, step: str,
                run: Callable[[Reader], str]) -> Response:
    """Run one checklist step; on a field or state error re-render the case with the error next to
    that step's fields and nothing written (the transaction is rolled back)."""
    form = dict(await request.form())
    reader = Reader(form)
    try:
        message = run(reader)
    except (FormInvalid, DomainError) as exc:
        if isinstance(exc, NotFound) and exc.field == "case_id":
            raise
        db.rollback()
        db.begin()
        ctx = case_context(request, db, me, case_id)
        ctx["forms"][step] = form
        ctx["errs"] = {step: errors_of(exc)}
        general = ctx["errs"][step].get("__all__") or ctx["errs"][step].get("to")
        if general:  # also at the top: the step's form may not be shown in the case's state
            ctx["errors"] = {"__all__": general}
        return render(request, "case.html", status_code=400, title=f"Case #{case_id}", **ctx)
    return RedirectResponse(url(request, f"/cases/{case_id}", flash=message), status_code=303)


@router.post("/cases/{case_id}/acknowledge")
async def acknowledge(request: Request, case_id: int, db: DbDep,
                      me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        text = r.text("text", required=True, max_len=5000)
        r.check()
        _svc().acknowledge(db, case_id=case_id, text=text or "", actor=me.actor)
        return "Apology recorded; the case is acknowledged."
    return await _step(request, db, me, case_id, "acknowledge", run)


@router.post("/cases/{case_id}/actions")
async def add_action(request: Request, case_id: int, db: DbDep,
                     me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        text = r.text("description", required=True, max_len=5000)
        r.check()
        _svc().add_action(db, case_id=case_id, description=text or "", actor=me.actor)
        return "Action recorded."
    return await _step(request, db, me, case_id, "action", run)


@router.post("/cases/{case_id}/compensation")
async def compensate(request: Request, case_id: int, db: DbDep,
                     me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        from loyalist.cases.schemas import CompensationRequest

        kind = r.text("kind", required=True)
        points = r.integer("points", minimum=1) if kind == "points" else None
        reward_id = r.integer("reward_id") if kind == "voucher" else None
        description = r.text("description", required=True, max_len=2000)
        if kind == "points" and points is None and "points" not in r.errors:
            r.errors["points"] = "required for a points compensation"
        if kind == "voucher" and reward_id is None and "reward_id" not in r.errors:
            r.errors["reward_id"] = "choose the reward to issue as a voucher"
        r.check()
        data = CompensationRequest(kind=kind, compensation_id=r.text("compensation_id"), points=points,  # type: ignore[arg-type]
                                   reward_id=reward_id, description=description or "")
        _svc().compensate(db, case_id=case_id, data=data, actor=me.actor)
        return f"Compensation recorded ({points} points)." if kind == "points" else "Compensation recorded."
    return await _step(request, db, me, case_id, "compensate", run)


@router.post("/cases/{case_id}/resolve")
async def resolve(request: Request, case_id: int, db: DbDep,
                  me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        text = r.text("resolution", required=True, max_len=5000)
        r.check()
        _svc().resolve(db, case_id=case_id, resolution=text or "", actor=me.actor)
        return "Case resolved."
    return await _step(request, db, me, case_id, "resolve", run)


@router.post("/cases/{case_id}/follow-up")
async def follow_up(request: Request, case_id: int, db: DbDep,
                    me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        csat = r.integer("csat", required=True)
        if csat is not None and not 1 <= csat <= 5:
            r.errors["csat"] = "must be from 1 to 5"
        comment = r.text("comment", max_len=5000)
        r.check()
        result = _svc().record_follow_up(db, case_id=case_id, csat=csat or 0, comment=comment, actor=me.actor)
        if getattr(result, "suggest_reopen", False):
            return "Follow-up recorded. The customer is still unhappy: consider reopening the case."
        return "Follow-up recorded."
    return await _step(request, db, me, case_id, "follow_up", run)


@router.post("/cases/{case_id}/transition")
async def transition(request: Request, case_id: int, db: DbDep,
                     me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        to = r.text("to", required=True)
        note = r.text("note", max_len=5000)
        override = r.text("override_reason", max_len=1000)
        r.check()
        case = _svc().transition(db, case_id=case_id, to=to or "", note=note, override_reason=override,
                                 actor=me.actor)
        return f"Case is now {case.state.replace('_', ' ')}."
    return await _step(request, db, me, case_id, "transition", run)


@router.post("/cases/{case_id}/comments")
async def add_comment(request: Request, case_id: int, db: DbDep,
                      me: Annotated[ConsoleSession, Depends(needs("cases:write"))]) -> Response:
    def run(r: Reader) -> str:
        text = r.text("text", required=True, max_len=5000)
        r.check()
        _svc().comment(db, case_id=case_id, text=text or "", actor=me.actor)
        return "Internal note added."
    return await _step(request, db, me, case_id, "comment", run)

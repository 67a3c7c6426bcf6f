"""My tasks: the signed-in staff member's open reminders (call, write, greet...), completed with
an outcome that lands on the customer's timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from loyalist.errors import DomainError, NotFound
from loyalist.staff.sessions import ConsoleSession
from loyalist.web import domains
from loyalist.web.auth import DbDep, needs
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
PAGE = 25
OUTCOMES = ("done", "reached", "no_answer", "left_message", "wrong_number", "declined", "not_needed")


def _svc() -> Any:
    svc = domains.service("tasks")
    if svc is None:
        raise NotFound("the tasks module is not installed")
    return svc


def _page(request: Request, db: Any, me: ConsoleSession, *, status: str, scope: str, offset: int,
          status_code: int = 200, errors: dict[str, Any] | None = None) -> Response:
    svc = _svc()
    page, problems = None, {}
    try:
        page = svc.list_tasks(db, assignee_id=me.actor.id if scope == "mine" else None,
                              unassigned=scope == "unassigned", status=status or None, limit=PAGE, offset=offset)
    except DomainError as exc:
        problems = errors_of(exc)
    return render(request, "tasks.html", status_code=status_code, title="My tasks", page=page,
                  errors=problems, task_errors=errors or {}, outcomes=OUTCOMES,
                  form={"status": status, "scope": scope},
                  page_href=lambda o: url(request, "/tasks", status=status, scope=scope, offset=o))


@router.get("/tasks")
def my_tasks(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("tasks:read"))],
             status: str = "open", scope: str = "mine", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    return _page(request, db, me, status=status, scope=scope, offset=offset)


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, task_id: int, db: DbDep,
                   me: Annotated[ConsoleSession, Depends(needs("tasks:write"))]) -> Response:
    form = dict(await request.form())
    r = Reader(form)
    outcome = r.text("outcome", required=True)
    note = r.text("note", max_len=4000)
    try:
        r.check()
        _svc().complete_task(db, task_id=task_id, outcome=outcome or "", note=note, actor=me.actor)
    except (FormInvalid, DomainError) as exc:
        db.rollback()
        db.begin()
        return _page(request, db, me, status="open", scope="mine", offset=0, status_code=400,
                     errors={task_id: errors_of(exc)})
    return RedirectResponse(url(request, "/tasks", flash=f"Task {task_id} completed."), status_code=303)

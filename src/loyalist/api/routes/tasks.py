"""Staff tasks: each agent's list (their own by default), create, complete with an outcome,
reassign and cancel. Managers and admins see everyone's tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers_service
from loyalist.errors import PermissionDenied, ValidationFailed
from loyalist.tasks import service
from loyalist.tasks.schemas import TaskCancel, TaskComplete, TaskCreate, TaskPage, TaskRead, TaskReassign
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["tasks"])

_SEE_ALL = {"admin", "manager"}


@router.get("/tasks", response_model=TaskPage)
def list_tasks(
    session: SessionDep,
    actor: Annotated[Actor, Permit("tasks:read")],
    assignee: Annotated[str | None, Query(description="me | all | unassigned | <staff id>; default: "
                                                      "me for agents, all for managers")] = None,
    status: str | None = None,
    due_before: datetime | None = None,
    customer_id: int | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> TaskPage:
    sees_all = actor.role in _SEE_ALL
    scope = assignee or ("all" if sees_all else "me")
    assignee_id: int | None = None
    unassigned = False
    if scope == "me":
        assignee_id = service.staff_id_of(session, actor)
        if assignee_id is None:
            raise ValidationFailed("assignee: this key is not linked to a staff user; pass assignee=<staff id>",
                                   field="assignee")
    elif scope == "unassigned":
        unassigned = True
    elif scope == "all":
        pass
    else:
        try:
            assignee_id = int(scope)
        except ValueError as exc:
            raise ValidationFailed("assignee: me, all, unassigned or a staff id", field="assignee") from exc
    own = service.staff_id_of(session, actor)
    if not sees_all and customer_id is None and not unassigned and (assignee_id is None or assignee_id != own):
        raise PermissionDenied("agents see their own and unassigned tasks, or one customer's tasks")
    return service.list_tasks(session, assignee_id=assignee_id, unassigned=unassigned, status=status,
                              due_before=due_before, customer_id=customer_id, overdue=overdue,
                              limit=limit, offset=offset)


@router.post("/tasks", status_code=201, response_model=TaskRead)
def create_task(body: TaskCreate, session: SessionDep, actor: Annotated[Actor, Permit("tasks:write")]) -> TaskRead:
    """Without `assignee_id` the task goes to the creator's own list; `null` leaves it unassigned."""
    assignee_id = body.assignee_id if "assignee_id" in body.model_fields_set else service.staff_id_of(session, actor)
    return service.create_task(session, kind=body.kind, title=body.title, customer_id=body.customer_id,
                               assignee_id=assignee_id, due_at=body.due_at, actor=actor, note=body.note,
                               source_type="staff" if body.dedupe_key is None else "api",
                               dedupe_key=body.dedupe_key)


@router.get("/tasks/{task_id}", response_model=TaskRead)
def get_task(task_id: int, session: SessionDep, actor: Annotated[Actor, Permit("tasks:read")]) -> TaskRead:
    return service.get_task(session, task_id)


@router.post("/tasks/{task_id}/complete", response_model=TaskRead)
def complete_task(task_id: int, body: TaskComplete, session: SessionDep,
                  actor: Annotated[Actor, Permit("tasks:write")]) -> TaskRead:
    """Record what happened (reached, no answer...); it lands on the customer's timeline."""
    return service.complete_task(session, task_id=task_id, outcome=body.outcome, note=body.note, actor=actor)


@router.post("/tasks/{task_id}/reassign", response_model=TaskRead)
def reassign_task(task_id: int, body: TaskReassign, session: SessionDep,
                  actor: Annotated[Actor, Permit("tasks:write")]) -> TaskRead:
    return service.reassign_task(session, task_id=task_id, assignee_id=body.assignee_id, actor=actor)


@router.post("/tasks/{task_id}/cancel", response_model=TaskRead)
def cancel_task(task_id: int, body: TaskCancel, session: SessionDep,
                actor: Annotated[Actor, Permit("tasks:write")]) -> TaskRead:
    return service.cancel_task(session, task_id=task_id, actor=actor, reason=body.reason)


@router.get("/customers/{customer_id}/tasks", response_model=TaskPage)
def customer_tasks(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("tasks:read")],
                   status: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                   offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> TaskPage:
    customers_service.get_customer(session, customer_id)
    return service.list_tasks(session, customer_id=customer_id, status=status, limit=limit, offset=offset)

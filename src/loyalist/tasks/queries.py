"""Read side of staff tasks: list/filter queries and the staff identity behind an actor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from loyalist.staff.models import ApiKey
from loyalist.tasks.models import Task
from loyalist.types import Actor


def staff_id_of(session: Session, actor: Actor) -> int | None:
    """The staff user an actor stands for: a console session is the user; an API key may be
    linked to one (`api_keys.staff_id`). `staff` is core, so reading its table here is allowed."""
    if actor.kind == "staff":
        return actor.id
    if actor.kind == "api_key" and actor.id is not None:
        return session.scalar(select(ApiKey.staff_id).where(ApiKey.id == actor.id))
    return None


def filtered(
    *, assignee_id: int | None, unassigned: bool, status: str | None, due_before: datetime | None,
    customer_id: int | None, overdue: bool | None, now: datetime,
) -> Select[Task]:
    query = select(Task)
    if unassigned:
        query = query.where(Task.assignee_id.is_(None))
    elif assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    if status is not None:
        query = query.where(Task.status == status)
    if due_before is not None:
        query = query.where(Task.due_at < due_before)
    if customer_id is not None:
        query = query.where(Task.customer_id == customer_id)
    if overdue is True:
        query = query.where(Task.status == "open", Task.due_at < now)
    elif overdue is False:
        query = query.where(or_(Task.status != "open", Task.due_at.is_(None), Task.due_at >= now))
    return query


def page(session: Session, query: Select[Task], *, limit: int, offset: int) -> tuple[list[Task], int]:
    """Open tasks with the nearest due date first (no due date last), then newest."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def for_customer(session: Session, customer_id: int) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.customer_id == customer_id).order_by(Task.id)))


def by_dedupe_key(session: Session, key: str) -> Task | None:
    return session.scalar(select(Task).where(Task.dedupe_key == key))


def by_dedupe_keys(session: Session, keys: list[str]) -> list[Task]:
    """The tasks holding any of `keys` (in chunks of 1,000, the IN-list size every backend takes)."""
    unique = sorted(set(keys))
    found: list[Task] = []
    for start in range(0, len(unique), 1000):
        found += session.scalars(select(Task).where(Task.dedupe_key.in_(unique[start:start + 1000])))
    return found

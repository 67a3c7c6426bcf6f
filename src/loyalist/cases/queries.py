"""Read side of the cases domain: filtered, paginated lists (private)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from loyalist.cases.models import Case, StaffFlag
from loyalist.cases.state import OPEN_STATES


def breached_clause(now: datetime) -> ColumnElement[bool]:
    """A case is breached when a breach was marked, or an open case is past a due instant the
    scan has not reached yet (so the list is right between two scans)."""
    return or_(
        Case.first_response_breached_at.is_not(None),
        Case.resolution_breached_at.is_not(None),
        and_(Case.state == "new", Case.first_response_due_at <= now),
        and_(Case.state.in_(OPEN_STATES), Case.resolution_due_at.is_not(None), Case.resolution_due_at <= now),
    )


def list_cases(
    session: Session, *, now: datetime, state: str | None = None, assignee_id: int | None = None,
    severity: str | None = None, breached: bool | None = None, category: str | None = None,
    customer_id: int | None = None, limit: int = 50, offset: int = 0,
) -> tuple[list[Case], int]:
    conditions: list[Any] = []
    if state is not None:
        conditions.append(Case.state == state)
    if assignee_id is not None:
        conditions.append(Case.assignee_id == assignee_id)
    if severity is not None:
        conditions.append(Case.severity == severity)
    if category is not None:
        conditions.append(Case.category == category)
    if customer_id is not None:
        conditions.append(Case.customer_id == customer_id)
    if breached is not None:
        clause = breached_clause(now)
        conditions.append(clause if breached else ~clause)
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = list(session.scalars(select(Case).where(*conditions).order_by(Case.id.desc()).limit(limit).offset(offset)))
    return rows, total


def list_flags(
    session: Session, *, status: str | None = None, customer_id: int | None = None, staff_id: int | None = None,
    limit: int = 50, offset: int = 0,
) -> tuple[list[StaffFlag], int]:
    conditions: list[Any] = []
    if status is not None:
        conditions.append(StaffFlag.status == status)
    if customer_id is not None:
        conditions.append(StaffFlag.customer_id == customer_id)
    if staff_id is not None:
        conditions.append(StaffFlag.staff_id == staff_id)
    total = session.scalar(select(func.count()).select_from(StaffFlag).where(*conditions)) or 0
    # The manager's queue reads oldest first: the longest-waiting signal gets looked at first.
    rows = list(session.scalars(select(StaffFlag).where(*conditions)
                                .order_by(StaffFlag.created_at, StaffFlag.id).limit(limit).offset(offset)))
    return rows, total

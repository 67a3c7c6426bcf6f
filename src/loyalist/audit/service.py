"""Write and read the audit log. Every staff/integration mutation calls `record`."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.audit.schemas import AuditPage, AuditRead
from loyalist.types import Actor

# Set by the API middleware so that audit rows can be joined with request logs.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "loyalist_request_id", default=None
)


def jsonable(value: Any) -> Any:
    """Make before/after snapshots JSON-safe (Decimal as string, datetimes ISO)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit row in the caller's transaction (so it commits or rolls back with it)."""
    entry = AuditEntry(
        occurred_at=clock.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        request_id=current_request_id.get(),
    )
    session.add(entry)
    session.flush()
    return entry


def record_statement(*, actor: Actor, action: str, target_type: str, target_id: Any = None,
                     before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> Any:
    """`record`'s INSERT as a (statement built once, parameters) pair, not executed: sent with
    other independent writes in one round trip (`db.execute_together`) by hot paths that need no
    id back."""
    from loyalist.db import prebuilt_insert, prefixed

    row = {"occurred_at": clock.now(), "actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name,
           "action": action, "target_type": target_type, "target_id": None if target_id is None else str(target_id),
           "before": jsonable(before) if before is not None else None,
           "after": jsonable(after) if after is not None else None, "request_id": current_request_id.get()}
    return prebuilt_insert(AuditEntry.__table__, "a_"), prefixed(row, "a_")


def list_entries(
    session: Session,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
    actor: str | None = None,
) -> AuditPage:
    """Newest first, filtered by target, action and/or actor name (case-insensitive substring)."""
    query = select(AuditEntry)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == str(target_id))
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor_name.icontains(actor, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return AuditPage(
        items=[AuditRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


def record_many(session: Session, *, actor: Actor, action: str, target_type: str,
                items: Sequence[tuple[Any, dict[str, Any] | None] | tuple[Any, dict[str, Any] | None,
                                                                          dict[str, Any] | None]]) -> int:
    """Append one audit row per (target_id, after) or (target_id, after, before) in a single
    executemany: the rows `record` would write one by one.

    Why: bulk operations (a customer import of thousands of rows) must still leave one audit row
    per changed record, without paying a round trip per row.
    """
    if not items:
        return 0
    from sqlalchemy import insert

    now = clock.now()
    rid = current_request_id.get()
    session.execute(insert(AuditEntry), [
        {"occurred_at": now, "actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name,
         "action": action, "target_type": target_type, "target_id": None if tid is None else str(tid),
         "before": jsonable(item[2]) if len(item) > 2 and item[2] is not None else None,  # type: ignore[misc]
         "after": jsonable(after) if after is not None else None, "request_id": rid}
        for item in items for tid, after in [item[:2]]])
    return len(items)

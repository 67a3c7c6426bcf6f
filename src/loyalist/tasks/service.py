"""Staff tasks: a to-do list per staff member (call, write, greet...), linked to a customer.

Why it is built this way:
- `create_task` is idempotent on `dedupe_key` (UNIQUE): automations, cases and campaigns pass a
  key derived from what caused the task, so a re-run job or a retried request returns the first
  task instead of making the agent call the same customer twice. The insert runs in a savepoint,
  so a concurrent duplicate (IntegrityError) resolves to the winner's row without spoiling the
  caller's transaction.
- State moves only open -> done | cancelled, each by a guarded UPDATE from 'open', so two agents
  completing the same task at once cannot both record an outcome.
- The outcome of a task about a customer lands on the customer's timeline (kind "task"): a call
  that reached nobody is still contact history the next agent must see.
- "Overdue" is computed (open and due before now), never stored, so it cannot go stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock, db
from loyalist.audit import service as audit
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.errors import InvalidState, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.staff import service as staff_service
from loyalist.tasks import queries
from loyalist.tasks.models import Task
from loyalist.tasks.schemas import KINDS, OUTCOMES, STATUSES, TaskPage, TaskRead
from loyalist.types import MAX_ROW_ID, Actor

__all__ = ["KINDS", "OUTCOMES", "STATUSES", "create_task", "get_task", "list_tasks", "complete_task",
           "reassign_task", "cancel_task", "staff_id_of"]

MAX_ID = MAX_ROW_ID
# where the contact of each kind of task usually happens (timeline channel)
_CHANNEL = {"call": "phone", "write": "email", "greet": "in_store", "follow_up": "system", "review": "system",
            "other": "system"}


def _read(row: Task, now: datetime | None = None) -> TaskRead:
    now = now or clock.now()
    item = TaskRead.model_validate(row)
    item.overdue = row.status == "open" and row.due_at is not None and row.due_at < now
    return item


def _text(value: str | None, field: str, max_len: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise ValidationFailed(f"{field}: required", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field}: must be text", field=field)
    value = value.strip()
    if "\x00" in value:
        raise ValidationFailed(f"{field}: must not contain NUL characters", field=field)
    if not value:
        if required:
            raise ValidationFailed(f"{field}: must not be empty", field=field)
        return None
    if len(value) > max_len:
        raise ValidationFailed(f"{field}: at most {max_len} characters", field=field)
    return value


def _check_assignee(session: Session, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    if not 0 < assignee_id <= MAX_ID:
        raise ValidationFailed(f"assignee_id: staff user {assignee_id} not found", field="assignee_id")
    try:
        staff = staff_service.get_staff(session, assignee_id)
    except NotFound as exc:
        raise ValidationFailed(f"assignee_id: staff user {assignee_id} not found", field="assignee_id") from exc
    if not staff.active:
        raise ValidationFailed(f"assignee_id: staff user {assignee_id} is not active", field="assignee_id")


def _check_customer(session: Session, customer_id: int | None) -> None:
    if customer_id is None:
        return
    try:
        customer = customers.get_customer(session, customer_id)
    except NotFound as exc:
        raise ValidationFailed(f"customer_id: customer {customer_id} not found", field="customer_id") from exc
    if customer.status in ("merged", "erased"):
        raise ValidationFailed(f"customer_id: customer {customer_id} is {customer.status}", field="customer_id")


def _when(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return clock.ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: must include a timezone", field=field) from exc


def _snapshot(row: Task) -> dict[str, Any]:
    # no free text (title/note may name the customer): the audit log is never erased
    return {"kind": row.kind, "customer_id": row.customer_id, "assignee_id": row.assignee_id,
            "status": row.status, "due_at": row.due_at, "outcome": row.outcome, "source_type": row.source_type,
            "source_id": row.source_id, "dedupe_key": row.dedupe_key}


def create_task(
    session: Session,
    *,
    kind: str,
    title: str,
    customer_id: int | None,
    assignee_id: int | None,
    due_at: datetime | None,
    actor: Actor,
    note: str | None = None,
    source_type: str | None = None,
    source_id: str | None = None,
    dedupe_key: str | None = None,
) -> TaskRead:
    """Create a task; with `dedupe_key`, the same key again returns the first task unchanged."""
    if kind not in KINDS:
        raise ValidationFailed(f"kind: must be one of {sorted(KINDS)}", field="kind")
    title_ = cast(str, _text(title, "title", 300, required=True))
    note_ = _text(note, "note", 4000)
    source_type_ = _text(source_type, "source_type", 50)
    source_id_ = _text(None if source_id is None else str(source_id), "source_id", 100)
    key = _text(dedupe_key, "dedupe_key", 200)
    due = _when(due_at, "due_at")
    if key is not None:
        existing = queries.by_dedupe_key(session, key)
        if existing is not None:
            return _read(existing)
    _check_customer(session, customer_id)
    _check_assignee(session, assignee_id)
    now = clock.now()
    row = Task(kind=kind, title=title_, note=note_, customer_id=customer_id, assignee_id=assignee_id,
               status="open", due_at=due, source_type=source_type_, source_id=source_id_, dedupe_key=key,
               created_by=actor.label, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        if key is None:
            raise
        existing = queries.by_dedupe_key(session, key)
        if existing is None:
            raise
        return _read(existing)
    audit.record(session, actor=actor, action="task.create", target_type="task", target_id=row.id,
                 after=_snapshot(row))
    return _read(row, now)


def create_tasks(session: Session, *, items: list[dict[str, Any]], actor: Actor) -> list[TaskRead]:
    """Many `create_task` calls at once (each dict takes its keyword arguments but `actor`), in a
    constant number of statements: the same rows, dedupe behaviour and one audit row per new
    task. Everything is validated before anything is written. Returns one TaskRead per item, in
    order (an existing dedupe key returns the first task, as `create_task` does). Should a
    concurrent writer take one of the keys between the check and the insert, the batch falls back
    to `create_task` per item, which resolves the race row by row."""
    prepared: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("kind")
        if kind not in KINDS:
            raise ValidationFailed(f"kind: must be one of {sorted(KINDS)}", field="kind")
        source_id = item.get("source_id")
        prepared.append({
            "kind": kind, "title": cast(str, _text(item.get("title"), "title", 300, required=True)),
            "note": _text(item.get("note"), "note", 4000), "customer_id": item.get("customer_id"),
            "assignee_id": item.get("assignee_id"), "due_at": _when(item.get("due_at"), "due_at"),
            "source_type": _text(item.get("source_type"), "source_type", 50),
            "source_id": _text(None if source_id is None else str(source_id), "source_id", 100),
            "dedupe_key": _text(item.get("dedupe_key"), "dedupe_key", 200)})
    keys = [p["dedupe_key"] for p in prepared if p["dedupe_key"] is not None]
    existing = {t.dedupe_key: t for t in queries.by_dedupe_keys(session, keys)}
    fresh = [p for p in prepared if p["dedupe_key"] not in existing]
    profiles = customers.get_customers(session, {p["customer_id"] for p in fresh if p["customer_id"] is not None})
    for p in fresh:
        cid = p["customer_id"]
        if cid is None:
            continue
        if cid not in profiles:
            raise ValidationFailed(f"customer_id: customer {cid} not found", field="customer_id")
        if profiles[cid].status in ("merged", "erased"):
            raise ValidationFailed(f"customer_id: customer {cid} is {profiles[cid].status}", field="customer_id")
    for assignee in sorted({p["assignee_id"] for p in fresh if p["assignee_id"] is not None}):
        _check_assignee(session, assignee)
    now = clock.now()
    made: dict[int, Task] = {}  # position in `prepared` -> new row
    seen: dict[str, int] = {}
    for i, p in enumerate(prepared):
        if p["dedupe_key"] in existing or p["dedupe_key"] in seen:
            continue
        if p["dedupe_key"] is not None:
            seen[p["dedupe_key"]] = i
        made[i] = Task(**p, status="open", created_by=actor.label, created_at=now, updated_at=now)
    keyed = [i for i, row in made.items() if row.dedupe_key is not None]
    try:
        with session.begin_nested():
            # keyed rows in batches; a row without a key has nothing to match its new id by
            made.update(zip(keyed, db.insert_many(session, [made[i] for i in keyed], key="dedupe_key"),
                            strict=True))
            session.add_all(row for i, row in made.items() if row.dedupe_key is None)
            session.flush()
    except IntegrityError:
        return [create_task(session, actor=actor, **item) for item in items]
    audit.record_many(session, actor=actor, action="task.create", target_type="task",
                      items=[(row.id, _snapshot(row)) for row in made.values()])
    out: list[TaskRead] = []
    for i, p in enumerate(prepared):
        key = p["dedupe_key"]
        row = made.get(i) or (existing[key] if key in existing else made[seen[key]])
        out.append(_read(row, now))
    return out


def _row(session: Session, task_id: int) -> Task:
    if not 0 < task_id <= MAX_ID:
        raise NotFound(f"task {task_id} not found", field="task_id")
    row = session.get(Task, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found", field="task_id")
    return row


def get_task(session: Session, task_id: int) -> TaskRead:
    return _read(_row(session, task_id))


def list_tasks(
    session: Session,
    *,
    assignee_id: int | None = None,
    unassigned: bool = False,
    status: str | None = None,
    due_before: datetime | None = None,
    customer_id: int | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TaskPage:
    """Tasks matching every given filter, nearest due date first."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status: must be one of {sorted(STATUSES)}", field="status")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit: must be between 1 and 1000", field="limit")
    if not 0 <= offset <= 10**9:
        raise ValidationFailed("offset: must be between 0 and 1000000000", field="offset")
    for name, ident in (("assignee_id", assignee_id), ("customer_id", customer_id)):
        if ident is not None and not 0 < ident <= MAX_ID:
            raise ValidationFailed(f"{name}: must be a positive id", field=name)
    due = _when(due_before, "due_before")
    now = clock.now()
    query = queries.filtered(assignee_id=assignee_id, unassigned=unassigned, status=status, due_before=due,
                             customer_id=customer_id, overdue=overdue, now=now)
    rows, total = queries.page(session, query, limit=limit, offset=offset)
    return TaskPage(items=[_read(r, now) for r in rows], total=total, limit=limit, offset=offset)


def _move(session: Session, task_id: int, values: dict[str, Any]) -> Task:
    """Guarded UPDATE from 'open'; a closed task refuses with InvalidState and stays as it was."""
    row = _row(session, task_id)
    result = cast("CursorResult[Any]", session.execute(
        update(Task).where(Task.id == task_id, Task.status == "open").values(**values)
        .execution_options(synchronize_session=False)
    ))
    session.expire(row)
    if result.rowcount != 1:
        raise InvalidState(f"task {task_id} is {row.status}", field="task_id")
    session.refresh(row)
    return row


def complete_task(session: Session, *, task_id: int, outcome: str, note: str | None = None,
                  actor: Actor, channel: str | None = None) -> TaskRead:
    """Close a task with what happened; the outcome goes on the customer's timeline."""
    if outcome not in OUTCOMES:
        raise ValidationFailed(f"outcome: must be one of {sorted(OUTCOMES)}", field="outcome")
    note_ = _text(note, "note", 4000)
    row = _row(session, task_id)
    chan = channel or _CHANNEL.get(row.kind, "system")
    if chan not in interactions.CHANNELS:
        raise ValidationFailed(f"channel: unknown channel {chan!r}", field="channel")
    before = _snapshot(row)
    now = clock.now()
    row = _move(session, task_id, {"status": "done", "outcome": outcome, "outcome_note": note_, "closed_at": now,
                                   "closed_by": actor.label, "updated_at": now})
    if row.customer_id is not None:
        summary = f"Task ({row.kind}) done: {row.title} — {outcome.replace('_', ' ')}"
        if note_:
            summary = f"{summary}. {note_}"
        interactions.record(
            session, customer_id=row.customer_id, kind="task", channel=chan,
            direction="outbound" if row.kind in ("call", "write", "greet") else "internal",
            summary=summary[:4000], actor=actor, source_type="task", source_id=str(row.id),
            data={"task_id": row.id, "task_kind": row.kind, "outcome": outcome, "status": "done",
                  "source_type": row.source_type, "source_id": row.source_id},
        )
    audit.record(session, actor=actor, action="task.complete", target_type="task", target_id=row.id,
                 before=before, after=_snapshot(row))
    return _read(row, now)


def reassign_task(session: Session, *, task_id: int, assignee_id: int | None, actor: Actor) -> TaskRead:
    """Hand an open task to another staff user (None: back to the unassigned pool)."""
    row = _row(session, task_id)
    _check_assignee(session, assignee_id)
    before = _snapshot(row)
    row = _move(session, task_id, {"assignee_id": assignee_id, "updated_at": clock.now()})
    audit.record(session, actor=actor, action="task.reassign", target_type="task", target_id=row.id,
                 before=before, after=_snapshot(row))
    return _read(row)


def cancel_task(session: Session, *, task_id: int, actor: Actor, reason: str | None = None) -> TaskRead:
    """Withdraw an open task (nothing happened with the customer, so no timeline row)."""
    reason_ = _text(reason, "reason", 500)
    row = _row(session, task_id)
    before = _snapshot(row)
    now = clock.now()
    row = _move(session, task_id, {"status": "cancelled", "outcome_note": reason_, "closed_at": now,
                                   "closed_by": actor.label, "updated_at": now})
    audit.record(session, actor=actor, action="task.cancel", target_type="task", target_id=row.id,
                 before=before, after=_snapshot(row))
    return _read(row, now)


def staff_id_of(session: Session, actor: Actor) -> int | None:
    """The staff user behind an actor (console user, or the user an API key is linked to)."""
    return queries.staff_id_of(session, actor)


# --------------------------------------------------------------------------- customer-wide hooks

def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """The duplicate's tasks follow the customer to the survivor (the calls still need making)."""
    session.execute(update(Task).where(Task.customer_id == duplicate_id)
                    .values(customer_id=survivor_id, updated_at=clock.now())
                    .execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Task):
            session.expire(obj)


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Erasure: free text about the customer goes, open tasks are cancelled (nobody to call)."""
    now = clock.now()
    session.execute(update(Task).where(Task.customer_id == customer_id, Task.status == "open")
                    .values(status="cancelled", closed_at=now, closed_by=actor.label, updated_at=now)
                    .execution_options(synchronize_session=False))
    session.execute(update(Task).where(Task.customer_id == customer_id)
                    .values(title="[erased]", note=None, outcome_note=None)
                    .execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Task):
            session.expire(obj)


def _export_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    return [_read(r).model_dump(mode="json") for r in queries.for_customer(session, customer_id)]


def _view_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """Open tasks on the customer 360 page, so whoever opens the profile sees the pending call."""
    now = clock.now()
    rows = session.scalars(select(Task).where(Task.customer_id == customer_id, Task.status == "open")
                           .order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(20)).all()
    return [_read(r, now).model_dump(mode="json") for r in rows]


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("tasks", _export_section)
    hooks.register_view_section("tasks", _view_section)


_register_hooks()

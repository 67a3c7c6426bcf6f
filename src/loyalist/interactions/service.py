"""Write and read the customer timeline.

`record` is on the bulk-import hot path (one timeline row per imported event), so it validates in
Python and issues exactly one INSERT; it does not look the customer up (the caller has resolved
it, and the foreign key refuses an unknown id). Other domains call `record` from their own
services, which write their own audit rows; `log_interaction` is the staff/integration entry
point that also audits.

Dependency note: this module depends only on core. `customers` calls it (profile, consent,
merge rows) and uses `move_customer`/`anonymise_customer`/`export_rows` during merge and erasure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, insert, select, update
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.errors import ValidationFailed
from loyalist.interactions.models import Interaction
from loyalist.interactions.schemas import (
    CHANNELS,
    DIRECTIONS,
    KINDS,
    MAX_SUMMARY,
    InteractionCreate,
    InteractionPage,
    InteractionRead,
)
from loyalist.types import Actor

__all__ = [
    "CHANNELS", "DIRECTIONS", "KINDS", "record", "record_many", "log_interaction", "list_timeline",
    "count_for_customer", "move_customer", "anonymise_customer", "export_rows",
]


_TABLE = cast(Table, Interaction.__table__)
MAX_OFFSET = 10**9


def _check(kind: str, channel: str, direction: str, summary: str, occurred_at: datetime | None) -> datetime:
    if kind not in KINDS:
        raise ValidationFailed(f"kind: unknown interaction kind {kind!r}", field="kind")
    if channel not in CHANNELS:
        raise ValidationFailed(f"channel: unknown channel {channel!r}", field="channel")
    if direction not in DIRECTIONS:
        raise ValidationFailed(f"direction: must be one of {sorted(DIRECTIONS)}", field="direction")
    if not summary or not summary.strip():
        raise ValidationFailed("summary: must not be empty", field="summary")
    if len(summary) > MAX_SUMMARY:
        raise ValidationFailed(f"summary: at most {MAX_SUMMARY} characters", field="summary")
    if "\x00" in summary:
        raise ValidationFailed("summary: must not contain NUL characters", field="summary")
    if occurred_at is None:
        return clock.now()
    try:
        return clock.ensure_utc(occurred_at)
    except ValueError as exc:
        raise ValidationFailed("occurred_at: must include a timezone", field="occurred_at") from exc


def _has_nul(value: Any) -> bool:
    """PostgreSQL's JSONB and text refuse NUL; catching it here keeps both backends alike."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _row(
    *, customer_id: int, kind: str, channel: str, summary: str, direction: str, occurred_at: datetime | None,
    staff_id: int | None, actor: Actor | None, source_type: str | None, source_id: str | None,
    data: dict[str, Any] | None, now: datetime,
) -> dict[str, Any]:
    when = _check(kind, channel, direction, summary, occurred_at)
    for name, text in (("source_type", source_type), ("source_id", source_id)):
        if isinstance(text, str) and "\x00" in text:
            raise ValidationFailed(f"{name}: must not contain NUL characters", field=name)
    if data is not None and _has_nul(data):
        raise ValidationFailed("data: must not contain NUL characters", field="data")
    if staff_id is None and actor is not None and actor.kind == "staff":
        staff_id = actor.id
    return {
        "customer_id": customer_id,
        "occurred_at": when,
        "recorded_at": now,
        "kind": kind,
        "channel": channel,
        "direction": direction,
        "summary": summary.strip(),
        "staff_id": staff_id,
        "actor": actor.label if actor is not None else None,
        "source_type": source_type,
        "source_id": None if source_id is None else str(source_id),
        "data": audit.jsonable(data) if data is not None else None,
    }


def record(
    session: Session,
    *,
    customer_id: int,
    kind: str,
    channel: str,
    summary: str,
    direction: str = "internal",
    occurred_at: datetime | None = None,
    staff_id: int | None = None,
    actor: Actor | None = None,
    source_type: str | None = None,
    source_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> InteractionRead:
    """Append one timeline row (a single INSERT ... RETURNING id) and return it."""
    values = _row(customer_id=customer_id, kind=kind, channel=channel, summary=summary, direction=direction,
                  occurred_at=occurred_at, staff_id=staff_id, actor=actor, source_type=source_type,
                  source_id=source_id, data=data, now=clock.now())
    # A Core insert on the table: the ORM's bulk-insert machinery costs several times the INSERT.
    result = cast(CursorResult[Any], session.execute(insert(_TABLE), values))
    new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return InteractionRead(id=new_id, **values)


def insert_statement(rows: Iterable[dict[str, Any]]) -> Any:
    """`record`'s INSERT for one or more rows (each dict takes `record`'s keyword arguments),
    validated but not executed: for a caller that sends it together with other writes
    (`db.execute_together`) because it needs no id back. One row is the statement built once
    with its parameters (cheap to send); several are one multi-row INSERT, which keeps the ids in
    the order given (the timeline breaks ties by id)."""
    from loyalist.db import prebuilt_insert, prefixed

    now = clock.now()
    values = []
    for item in rows:
        args = {"direction": "internal", "occurred_at": None, "staff_id": None, "actor": None,
                "source_type": None, "source_id": None, "data": None, **item}
        values.append(_row(now=now, **args))
    if len(values) == 1:
        return prebuilt_insert(_TABLE, "i_"), prefixed(values[0], "i_")
    return insert(_TABLE).values(values)


def record_many(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Append many timeline rows in one executemany (bulk import); each dict takes `record`'s
    keyword arguments. Returns the number written; all are validated before anything is sent."""
    now = clock.now()
    values = []
    for item in rows:
        args = {"direction": "internal", "occurred_at": None, "staff_id": None, "actor": None,
                "source_type": None, "source_id": None, "data": None, **item}
        values.append(_row(now=now, **args))
    if values:
        session.execute(insert(_TABLE), values)
    return len(values)


def log_interaction(session: Session, *, customer_id: int, data: InteractionCreate, actor: Actor) -> InteractionRead:
    """Staff/integration logs a call, visit, note...: the timeline row plus an audit row."""
    row = record(session, customer_id=customer_id, kind=data.kind, channel=data.channel, summary=data.summary,
                 direction=data.direction, occurred_at=data.occurred_at, actor=actor,
                 source_type=data.source_type, source_id=data.source_id, data=data.data)
    audit.record(session, actor=actor, action="interaction.log", target_type="customer", target_id=customer_id,
                 after={"interaction_id": row.id, "kind": row.kind, "channel": row.channel})
    return row


def list_timeline(
    session: Session,
    customer_id: int,
    *,
    kinds: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> InteractionPage:
    """Newest first (ties by id, so pages are stable); `since` inclusive, `until` exclusive."""
    if limit < 1 or limit > 1000:
        raise ValidationFailed("limit: must be between 1 and 1000", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"offset: must be between 0 and {MAX_OFFSET}", field="offset")
    query = select(Interaction).where(Interaction.customer_id == customer_id)
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    channels = [channels] if isinstance(channels, str) else list(channels or [])
    for k in kinds:
        if k not in KINDS:
            raise ValidationFailed(f"kind: unknown interaction kind {k!r}", field="kind")
    for c in channels:
        if c not in CHANNELS:
            raise ValidationFailed(f"channel: unknown channel {c!r}", field="channel")
    if kinds:
        query = query.where(Interaction.kind.in_(kinds))
    if channels:
        query = query.where(Interaction.channel.in_(channels))
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed(f"{name}: must include a timezone", field=name)
    if since is not None:
        query = query.where(Interaction.occurred_at >= clock.ensure_utc(since))
    if until is not None:
        query = query.where(Interaction.occurred_at < clock.ensure_utc(until))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit).offset(offset)
    ).all()
    return InteractionPage(items=[InteractionRead.model_validate(r) for r in rows], total=total,
                           limit=limit, offset=offset)


def count_for_customer(session: Session, customer_id: int) -> int:
    return session.scalar(select(func.count(Interaction.id)).where(Interaction.customer_id == customer_id)) or 0


def move_customer(session: Session, *, from_customer_id: int, to_customer_id: int) -> int:
    """Re-point every timeline row of a merged duplicate at the survivor; returns rows moved."""
    result = cast(CursorResult[Any], session.execute(
        update(Interaction).where(Interaction.customer_id == from_customer_id)
        .values(customer_id=to_customer_id).execution_options(synchronize_session=False)
    ))
    return int(result.rowcount or 0)


# Keys whose string values are identifiers/codes/amounts rather than free text; kept on erasure.
_SAFE_KEY_SUFFIXES = ("id", "_ids", "currency", "kind", "type", "status", "code", "_at", "_date", "tier",
                      "channel", "reason_code", "sku")


def _scrub(value: Any, key: str = "") -> Any:
    """Drop free text but keep numbers, dates, ids and amounts (so analytics still add up)."""
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        lowered = key.lower()
        if lowered.endswith(_SAFE_KEY_SUFFIXES) and "birth" not in lowered:
            return value
        try:
            Decimal(value)
        except (InvalidOperation, ValueError):
            return None
        return value
    return None


def anonymise_customer(session: Session, customer_id: int) -> int:
    """GDPR erasure of the timeline: free-text summaries and data go, ids/kinds/amounts/dates stay."""
    rows = session.scalars(select(Interaction).where(Interaction.customer_id == customer_id)).all()
    for row in rows:
        row.summary = f"[erased] {row.kind}"
        row.data = _scrub(row.data) if row.data is not None else None
    session.flush()
    return len(rows)


def export_rows(session: Session, customer_id: int) -> list[InteractionRead]:
    """Every timeline row of a customer, oldest first (GDPR export)."""
    rows = session.scalars(
        select(Interaction).where(Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at, Interaction.id)
    ).all()
    return [InteractionRead.model_validate(r) for r in rows]

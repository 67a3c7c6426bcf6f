"""Segments: dynamic rules and static lists, evaluated in the database.

Public contract for campaigns, automations and offers (see docs/segments.md):
- `member_ids(session, *, segment_id=None, rule=None, as_of=None) -> list[int]` (sorted ids)
- `count(session, *, segment_id=None, rule=None, as_of=None) -> int`
- `matches(session, *, segment_id=None, rule=None, customer_id, as_of=None) -> bool`
- `members(session, segment_id, *, as_of=None) -> list[int]` and `iter_member_ids(...)` (batches)
- `snapshot(session, *, segment_id, actor, as_of=None, note=None) -> SnapshotRead` and
  `snapshot_member_ids(session, snapshot_id) -> list[int]`
Only active customers are ever members (merged, erased and closed accounts never are).
`as_of` is the evaluation time for relative conditions (within_days, windows, last purchase age).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.analytics.spreadsheet import neutralise
from loyalist.audit import service as audit
from loyalist.errors import Conflict, InvalidState, NotFound, ValidationFailed
from loyalist.segments import queries, rules
from loyalist.segments.fields import CATALOGUE, available_fields, customers_table
from loyalist.segments.models import Segment, SegmentMember, SegmentSnapshot, SegmentSnapshotMember
from loyalist.segments.schemas import (
    CustomerBrief,
    FieldInfo,
    MemberPage,
    MembershipChange,
    Preview,
    SegmentCreate,
    SegmentRead,
    SegmentUpdate,
    SnapshotRead,
)
from loyalist.types import Actor

EXPORT_COLUMNS = ("customer_id", "external_id", "first_name", "last_name", "email", "phone", "locale",
                  "preferred_channel")
BATCH = 5000


# --------------------------------------------------------------------------- catalogue and validation

def list_fields() -> list[FieldInfo]:
    """The fields a rule may use now (open_cases appears once the cases tables exist)."""
    return [FieldInfo(**spec.describe()) for spec in available_fields().values()]


def validate_rule(rule: Any) -> None:
    """Raise ValidationFailed naming the path of the first problem (e.g. rule.all[2].value)."""
    rules.parse(rule)


# --------------------------------------------------------------------------- CRUD

def _read(row: Segment) -> SegmentRead:
    return SegmentRead(id=row.id, name=row.name, description=row.description, kind=row.kind, rule=row.rule,
                       archived=row.archived, created_at=row.created_at, updated_at=row.updated_at,
                       created_by=row.created_by)


def _snapshot_of(row: Segment) -> dict[str, Any]:
    return {"name": row.name, "description": row.description, "kind": row.kind, "rule": row.rule,
            "archived": row.archived}


def _name(value: str | None) -> str:
    name = (value or "").strip()
    if not 1 <= len(name) <= 120:
        raise ValidationFailed("name: 1-120 characters", field="name")
    if "\x00" in name:
        raise ValidationFailed("name: must not contain NUL characters", field="name")
    return name


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 2000 or "\x00" in value:
        raise ValidationFailed("description: at most 2000 characters, no NUL", field="description")
    return value.strip() or None


def _segment(session: Session, segment_id: int, field: str = "segment_id") -> Segment:
    row = session.get(Segment, segment_id)
    if row is None:
        raise NotFound(f"segment {segment_id} not found", field=field)
    return row


def _name_taken(session: Session, name: str, exclude: int | None = None) -> bool:
    query = select(Segment.id).where(func.lower(Segment.name) == name.lower())
    if exclude is not None:
        query = query.where(Segment.id != exclude)
    return session.scalar(query) is not None


def create_segment(session: Session, *, data: SegmentCreate, actor: Actor) -> SegmentRead:
    name = _name(data.name)
    description = _description(data.description)
    if data.kind == "dynamic":
        if data.rule is None:
            raise ValidationFailed("rule: a dynamic segment needs a rule", field="rule")
        validate_rule(data.rule)
    elif data.rule is not None:
        raise ValidationFailed("rule: a static segment has members, not a rule", field="rule")
    if _name_taken(session, name):
        raise Conflict(f"a segment named {name!r} already exists", field="name")
    now = clock.now()
    row = Segment(name=name, description=description, kind=data.kind, rule=data.rule, archived=False,
                  created_at=now, updated_at=now, created_by=actor.label)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a segment named {name!r} already exists", field="name") from None
    audit.record(session, actor=actor, action="segments.create", target_type="segment", target_id=row.id,
                 after=_snapshot_of(row))
    return _read(row)


def get_segment(session: Session, segment_id: int) -> SegmentRead:
    return _read(_segment(session, segment_id))


def get_segment_by_name(session: Session, name: str) -> SegmentRead:
    row = session.scalar(select(Segment).where(func.lower(Segment.name) == name.strip().lower()))
    if row is None:
        raise NotFound(f"segment {name!r} not found", field="name")
    return _read(row)


def list_segments(session: Session, *, include_archived: bool = False, limit: int | None = None,
                  offset: int = 0) -> list[SegmentRead]:
    """Segments by name; `limit`/`offset` page the list (the console shows 25 at a time)."""
    query = select(Segment).order_by(Segment.name, Segment.id)
    if not include_archived:
        query = query.where(Segment.archived.is_(False))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [_read(r) for r in session.scalars(query)]


def update_segment(session: Session, *, segment_id: int, data: SegmentUpdate, actor: Actor) -> SegmentRead:
    row = _segment(session, segment_id)
    if row.archived:
        raise InvalidState(f"segment {segment_id} is archived", field="segment_id")
    before = _snapshot_of(row)
    given = data.model_fields_set
    if "name" in given:
        name = _name(data.name)
        if _name_taken(session, name, exclude=row.id):
            raise Conflict(f"a segment named {name!r} already exists", field="name")
        row.name = name
    if "description" in given:
        row.description = _description(data.description)
    if "rule" in given:
        if row.kind == "static":
            raise ValidationFailed("rule: a static segment has members, not a rule", field="rule")
        if data.rule is None:
            raise ValidationFailed("rule: a dynamic segment needs a rule", field="rule")
        validate_rule(data.rule)
        row.rule = data.rule
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="segments.update", target_type="segment", target_id=row.id,
                 before=before, after=_snapshot_of(row))
    return _read(row)


def archive_segment(session: Session, *, segment_id: int, actor: Actor) -> SegmentRead:
    """Segments are archived, not deleted: campaigns and snapshots keep referring to them."""
    row = _segment(session, segment_id)
    if not row.archived:
        before = _snapshot_of(row)
        row.archived = True
        row.updated_at = clock.now()
        session.flush()
        audit.record(session, actor=actor, action="segments.archive", target_type="segment", target_id=row.id,
                     before=before, after=_snapshot_of(row))
    return _read(row)


# --------------------------------------------------------------------------- evaluation

def _predicate(session: Session, *, segment_id: int | None, rule: dict[str, Any] | None,
               as_of: dt.datetime | None, correlated: bool = False) -> Any:
    if (segment_id is None) == (rule is None):
        raise ValidationFailed("give exactly one of segment_id and rule", field="segment_id")
    when = as_of or clock.now()
    if rule is None:
        row = _segment(session, segment_id)  # type: ignore[arg-type]
        if row.kind == "static":
            return queries.static_predicate(row.id)
        rule = row.rule or {}
    predicate = queries.rule_predicate(session, rule, as_of=when, correlated=correlated)
    if not correlated:
        queries.tune(session)
    return predicate


def member_ids(session: Session, *, segment_id: int | None = None, rule: dict[str, Any] | None = None,
               as_of: dt.datetime | None = None) -> list[int]:
    """Ids of the (active) customers in the segment or matching the rule, ascending."""
    pred = _predicate(session, segment_id=segment_id, rule=rule, as_of=as_of)
    c = customers_table()
    return list(session.scalars(queries.member_query(pred).order_by(c.c.id)))


def count(session: Session, *, segment_id: int | None = None, rule: dict[str, Any] | None = None,
          as_of: dt.datetime | None = None) -> int:
    pred = _predicate(session, segment_id=segment_id, rule=rule, as_of=as_of)
    c = customers_table()
    return int(session.scalar(queries.member_query(pred, func.count(c.c.id))) or 0)


def matches(session: Session, *, customer_id: int, segment_id: int | None = None,
            rule: dict[str, Any] | None = None, as_of: dt.datetime | None = None) -> bool:
    """Whether one customer is in the segment now (used by automation conditions). Compiled
    with correlated EXISTS probes, so one customer costs a few index lookups."""
    pred = _predicate(session, segment_id=segment_id, rule=rule, as_of=as_of, correlated=True)
    c = customers_table()
    return session.scalar(queries.member_query(pred).where(c.c.id == customer_id)) is not None


def members(session: Session, segment_id: int, *, as_of: dt.datetime | None = None) -> list[int]:
    """The members of a segment evaluated at `as_of` (default now)."""
    return member_ids(session, segment_id=segment_id, as_of=as_of)


def iter_member_ids(session: Session, *, segment_id: int | None = None, rule: dict[str, Any] | None = None,
                    as_of: dt.datetime | None = None, batch: int = BATCH) -> Iterator[list[int]]:
    """Member ids in ascending batches (keyset pagination), for audiences too large for one list."""
    pred = _predicate(session, segment_id=segment_id, rule=rule, as_of=as_of)
    c = customers_table()
    last = 0
    while True:
        ids = list(session.scalars(queries.member_query(pred).where(c.c.id > last).order_by(c.c.id).limit(batch)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def member_page(session: Session, *, segment_id: int, limit: int = 50, offset: int = 0) -> MemberPage:
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit: must be between 1 and 1000", field="limit")
    if offset < 0:
        raise ValidationFailed("offset: must not be negative", field="offset")
    pred = _predicate(session, segment_id=segment_id, rule=None, as_of=None)
    c = customers_table()
    total = int(session.scalar(queries.member_query(pred, func.count(c.c.id))) or 0)
    ids = list(session.scalars(queries.member_query(pred).order_by(c.c.id).limit(limit).offset(offset)))
    return MemberPage(items=ids, total=total, limit=limit, offset=offset)


def _briefs(session: Session, ids: list[int]) -> list[CustomerBrief]:
    if not ids:
        return []
    c = customers_table()
    rows = session.execute(select(c.c.id, c.c.external_id, c.c.display_name, c.c.first_name, c.c.last_name,
                                  c.c.email).where(c.c.id.in_(ids)).order_by(c.c.id)).all()
    out = []
    for r in rows:
        name = r.display_name or " ".join(p for p in (r.first_name, r.last_name) if p) or None
        out.append(CustomerBrief(id=r.id, external_id=r.external_id, name=name, email=r.email))
    return out


def preview(session: Session, *, rule: dict[str, Any], as_of: dt.datetime | None = None,
            sample: int = 20) -> Preview:
    """Live count and the first `sample` members of a rule being edited in the console."""
    started = time.perf_counter()
    pred = _predicate(session, segment_id=None, rule=rule, as_of=as_of)
    c = customers_table()
    total = int(session.scalar(queries.member_query(pred, func.count(c.c.id))) or 0)
    ids = list(session.scalars(queries.member_query(pred).order_by(c.c.id).limit(sample)))
    return Preview(count=total, sample=_briefs(session, ids), seconds=round(time.perf_counter() - started, 4))


# --------------------------------------------------------------------------- static lists

def _static(session: Session, segment_id: int) -> Segment:
    row = _segment(session, segment_id)
    if row.kind != "static":
        raise InvalidState(f"segment {segment_id} is dynamic: its members follow its rule", field="segment_id")
    if row.archived:
        raise InvalidState(f"segment {segment_id} is archived", field="segment_id")
    return row


def _static_count(session: Session, segment_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(SegmentMember)
                              .where(SegmentMember.segment_id == segment_id)) or 0)


def _active_ids(session: Session, ids: Iterable[int]) -> set[int]:
    c = customers_table()
    found: set[int] = set()
    chunk: list[int] = []
    for cid in ids:
        chunk.append(cid)
        if len(chunk) == 1000:
            found |= set(session.scalars(select(c.c.id).where(c.c.id.in_(chunk), c.c.status == "active")))
            chunk = []
    if chunk:
        found |= set(session.scalars(select(c.c.id).where(c.c.id.in_(chunk), c.c.status == "active")))
    return found


def _insert_members(session: Session, segment_id: int, ids: Iterable[int], actor: Actor) -> int:
    existing = set(session.scalars(select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)))
    now = clock.now()
    new = [{"segment_id": segment_id, "customer_id": cid, "added_at": now, "added_by": actor.label}
           for cid in dict.fromkeys(ids) if cid not in existing]
    for i in range(0, len(new), BATCH):
        session.execute(insert(SegmentMember), new[i:i + BATCH])
    return len(new)


def add_members(session: Session, *, segment_id: int, customer_ids: list[int], actor: Actor) -> MembershipChange:
    """Add customers to a static segment; any unknown or inactive id refuses the whole change."""
    row = _static(session, segment_id)
    if not customer_ids:
        raise ValidationFailed("customer_ids: at least one id", field="customer_ids")
    active = _active_ids(session, customer_ids)
    for i, cid in enumerate(customer_ids):
        if cid not in active:
            raise ValidationFailed(f"customer_ids[{i}]: no active customer {cid}", field=f"customer_ids[{i}]")
    added = _insert_members(session, row.id, customer_ids, actor)
    total = _static_count(session, row.id)
    audit.record(session, actor=actor, action="segments.add_members", target_type="segment", target_id=row.id,
                 after={"added": added, "members": total})
    return MembershipChange(segment_id=row.id, added=added, members=total)


def remove_members(session: Session, *, segment_id: int, customer_ids: list[int],
                   actor: Actor) -> MembershipChange:
    row = _static(session, segment_id)
    if not customer_ids:
        raise ValidationFailed("customer_ids: at least one id", field="customer_ids")
    removed = 0
    ids = list(dict.fromkeys(customer_ids))
    for i in range(0, len(ids), 1000):
        result = session.execute(delete(SegmentMember).where(SegmentMember.segment_id == row.id,
                                                             SegmentMember.customer_id.in_(ids[i:i + 1000])))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    total = _static_count(session, row.id)
    audit.record(session, actor=actor, action="segments.remove_members", target_type="segment",
                 target_id=row.id, after={"removed": removed, "members": total})
    return MembershipChange(segment_id=row.id, removed=removed, members=total)


def import_external_ids(session: Session, *, segment_id: int, external_ids: list[str],
                        actor: Actor) -> MembershipChange:
    """Add customers by their external ids (e.g. a list from a shop system); ids that match no
    active customer are reported back, the others are added."""
    row = _static(session, segment_id)
    cleaned: list[str] = []
    for i, ext in enumerate(external_ids):
        if not isinstance(ext, str) or not ext.strip() or len(ext) > 100 or "\x00" in ext:
            raise ValidationFailed(f"external_ids[{i}]: 1-100 characters", field=f"external_ids[{i}]")
        cleaned.append(ext.strip())
    if not cleaned:
        raise ValidationFailed("external_ids: at least one id", field="external_ids")
    c = customers_table()
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(cleaned))
    for i in range(0, len(unique), 1000):
        for ext, cid in session.execute(select(c.c.external_id, c.c.id).where(
                c.c.external_id.in_(unique[i:i + 1000]), c.c.status == "active")):
            found[ext] = cid
    unknown = [e for e in unique if e not in found]
    added = _insert_members(session, row.id, [found[e] for e in unique if e in found], actor)
    total = _static_count(session, row.id)
    audit.record(session, actor=actor, action="segments.import_members", target_type="segment",
                 target_id=row.id, after={"added": added, "unknown": len(unknown), "members": total})
    return MembershipChange(segment_id=row.id, added=added, unknown=unknown, members=total)


# --------------------------------------------------------------------------- snapshots

def _snapshot_read(s: SegmentSnapshot) -> SnapshotRead:
    return SnapshotRead(id=s.id, segment_id=s.segment_id, as_of=s.as_of, taken_at=s.taken_at, rule=s.rule,
                        member_count=s.member_count, note=s.note, actor=s.actor)


def snapshot(session: Session, *, segment_id: int, actor: Actor, as_of: dt.datetime | None = None,
             note: str | None = None) -> SnapshotRead:
    """Materialise the members now (INSERT .. SELECT in the database), e.g. a campaign audience."""
    row = _segment(session, segment_id)
    if note is not None and (len(note) > 500 or "\x00" in note):
        raise ValidationFailed("note: at most 500 characters", field="note")
    now = clock.now()
    when = as_of or now
    pred = _predicate(session, segment_id=row.id, rule=None, as_of=when)
    snap = SegmentSnapshot(segment_id=row.id, as_of=when, taken_at=now, rule=row.rule, member_count=0, note=note,
                           actor=actor.label)
    session.add(snap)
    session.flush()
    c = customers_table()
    from sqlalchemy import literal

    source = queries.member_query(pred, literal(snap.id).label("snapshot_id"), c.c.id)
    session.execute(insert(SegmentSnapshotMember).from_select(["snapshot_id", "customer_id"], source))
    snap.member_count = int(session.scalar(select(func.count()).select_from(SegmentSnapshotMember)
                                           .where(SegmentSnapshotMember.snapshot_id == snap.id)) or 0)
    session.flush()
    audit.record(session, actor=actor, action="segments.snapshot", target_type="segment", target_id=row.id,
                 after={"snapshot_id": snap.id, "members": snap.member_count, "as_of": when.isoformat()})
    return _snapshot_read(snap)


def list_snapshots(session: Session, *, segment_id: int) -> list[SnapshotRead]:
    _segment(session, segment_id)
    rows = session.scalars(select(SegmentSnapshot).where(SegmentSnapshot.segment_id == segment_id)
                           .order_by(SegmentSnapshot.id.desc()))
    return [_snapshot_read(s) for s in rows]


def get_snapshot(session: Session, snapshot_id: int) -> SnapshotRead:
    s = session.get(SegmentSnapshot, snapshot_id)
    if s is None:
        raise NotFound(f"snapshot {snapshot_id} not found", field="snapshot_id")
    return _snapshot_read(s)


def snapshot_member_ids(session: Session, snapshot_id: int) -> list[int]:
    get_snapshot(session, snapshot_id)
    return list(session.scalars(select(SegmentSnapshotMember.customer_id)
                                .where(SegmentSnapshotMember.snapshot_id == snapshot_id)
                                .order_by(SegmentSnapshotMember.customer_id)))


# --------------------------------------------------------------------------- export

def export_csv(session: Session, *, segment_id: int, actor: Actor) -> Iterator[str]:
    """The members' contact columns as CSV text chunks (header first). The export itself is
    audited before the first row is produced, since personal data leaves the system."""
    row = _segment(session, segment_id)
    total = count(session, segment_id=row.id)
    audit.record(session, actor=actor, action="segments.export", target_type="segment", target_id=row.id,
                 after={"members": total})
    c = customers_table()
    cols = (c.c.id, c.c.external_id, c.c.first_name, c.c.last_name, c.c.email, c.c.phone, c.c.locale,
            c.c.preferred_channel)
    pred = _predicate(session, segment_id=row.id, rule=None, as_of=None)

    def chunks() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        yield buf.getvalue()
        last = 0
        while True:
            rows = session.execute(queries.member_query(pred, *cols).where(c.c.id > last).order_by(c.c.id)
                                   .limit(BATCH)).all()
            if not rows:
                return
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            for r in rows:
                writer.writerow([r[0], *(neutralise(v) for v in r[1:])])
            yield buf.getvalue()
            last = rows[-1][0]

    return chunks()


# --------------------------------------------------------------------------- customer hooks

def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: object) -> None:
    """Static memberships of the duplicate move to the survivor (no double rows)."""
    theirs = set(session.scalars(select(SegmentMember.segment_id).where(SegmentMember.customer_id == duplicate_id)))
    mine = set(session.scalars(select(SegmentMember.segment_id).where(SegmentMember.customer_id == survivor_id)))
    now = clock.now()
    for sid in sorted(theirs - mine):
        session.add(SegmentMember(segment_id=sid, customer_id=survivor_id, added_at=now,
                                  added_by=getattr(actor, "label", "merge")))
    session.execute(delete(SegmentMember).where(SegmentMember.customer_id == duplicate_id))
    session.flush()


def _erasure_handler(session: Session, *, customer_id: int, actor: object) -> None:
    session.execute(delete(SegmentMember).where(SegmentMember.customer_id == customer_id))


def _export_section(session: Session, customer_id: int) -> Any:
    rows = session.execute(select(Segment.id, Segment.name).join(SegmentMember, SegmentMember.segment_id == Segment.id)
                           .where(SegmentMember.customer_id == customer_id).order_by(Segment.id)).all()
    return [{"segment_id": r.id, "name": r.name} for r in rows]


def _register_hooks() -> None:
    from loyalist.customers import hooks

    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("segments", _export_section)


_register_hooks()

__all__ = ["CATALOGUE", "list_fields", "validate_rule", "create_segment", "get_segment", "get_segment_by_name",
           "list_segments", "update_segment", "archive_segment", "member_ids", "count", "matches", "members",
           "iter_member_ids", "member_page", "preview", "add_members", "remove_members", "import_external_ids",
           "snapshot", "list_snapshots", "get_snapshot", "snapshot_member_ids", "export_csv", "neutralise"]


# --------------------------------------------------------------------------- derived tables

def verify_summaries(session: Session, *, limit: int = 20) -> list[str]:
    """Differences between the derived tables segments read (purchase summaries and monthly
    buckets, current consent) and a recomputation from their source rows; empty when in step."""
    from loyalist.customers import consent_state
    from loyalist.purchases import summary

    return (summary.differences(session, limit=limit) + consent_state.differences(session, limit=limit))[:limit]


def rebuild_summaries(session: Session, *, actor: Actor) -> dict[str, Any]:
    """Recompute the derived tables from `purchases` and `customer_consents` in the caller's
    transaction (after a direct load, a restore or a failed verification); audited."""
    from loyalist.customers import consent_state
    from loyalist.purchases import summary

    started = time.perf_counter()
    result: dict[str, Any] = {"customers_with_purchases": summary.rebuild(session),
                              "current_consents": consent_state.rebuild(session)}
    result["rolling_as_of"] = _rolling_as_of(summary.rolling_state(session))
    result["seconds"] = round(time.perf_counter() - started, 3)
    audit.record(session, actor=actor, action="segments.rebuild_summaries", target_type="segment_summaries",
                 after=result)
    return result


def _rolling_as_of(state: dict[int, tuple[dt.datetime, dt.datetime]]) -> str | None:
    return min(as_of for _, as_of in state.values()).isoformat() if state else None


def rolling_spend_state(session: Session) -> dict[str, Any]:
    """The day the rolling spend (30/90/365 days) is computed as of, and its windows; as_of None
    when it was never computed (windowed spend then falls back to the monthly buckets)."""
    from loyalist.purchases import summary

    state = summary.rolling_state(session)
    return {"as_of": _rolling_as_of(state), "windows": sorted(state)}


def refresh_rolling_spend(session: Session, *, actor: Actor, day: dt.date | None = None) -> dict[str, Any]:
    """Recompute the per-customer spend and count over the last 30/90/365 days as of the UTC
    midnight starting `day` (default today), set-based, in the caller's transaction; audited.
    Windowed spend/count conditions read it while it is less than one window old."""
    from loyalist.purchases import summary

    started = time.perf_counter()
    counts = summary.refresh_rolling(session, day=day)
    result: dict[str, Any] = {"as_of": _rolling_as_of(summary.rolling_state(session)),
                              "customers": {str(d): n for d, n in sorted(counts.items())},
                              "seconds": round(time.perf_counter() - started, 3)}
    audit.record(session, actor=actor, action="segments.refresh_rolling", target_type="segment_summaries",
                 after=result)
    return result

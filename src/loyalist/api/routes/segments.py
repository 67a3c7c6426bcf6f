"""Segments: CRUD, the field catalogue, live preview, members, static lists, snapshots, CSV export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from loyalist.api.deps import Permit, SessionDep
from loyalist.segments import service
from loyalist.segments.schemas import (
    ExternalIds,
    FieldInfo,
    MemberIds,
    MemberPage,
    MembershipChange,
    Preview,
    RuleIn,
    SegmentCreate,
    SegmentRead,
    SegmentUpdate,
    SnapshotCreate,
    SnapshotRead,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1/segments", tags=["segments"])
Reader = Annotated[Actor, Permit("segments:read")]
Writer = Annotated[Actor, Permit("segments:write")]


@router.get("/fields", response_model=list[FieldInfo])
def fields(_actor: Reader) -> list[FieldInfo]:
    """Fields a rule may use, with their type, operators and choices (for the rule editor)."""
    return service.list_fields()


@router.post("/preview", response_model=Preview)
def preview(body: RuleIn, session: SessionDep, _actor: Reader) -> Preview:
    """Count and the first 20 members of a rule, without saving it."""
    return service.preview(session, rule=body.rule, as_of=body.as_of)


@router.get("", response_model=list[SegmentRead])
def list_segments(session: SessionDep, _actor: Reader, include_archived: bool = False) -> list[SegmentRead]:
    return service.list_segments(session, include_archived=include_archived)


@router.post("", status_code=201, response_model=SegmentRead)
def create_segment(body: SegmentCreate, session: SessionDep, actor: Writer) -> SegmentRead:
    return service.create_segment(session, data=body, actor=actor)


@router.get("/{segment_id}", response_model=SegmentRead)
def get_segment(segment_id: int, session: SessionDep, _actor: Reader) -> SegmentRead:
    return service.get_segment(session, segment_id)


@router.patch("/{segment_id}", response_model=SegmentRead)
def update_segment(segment_id: int, body: SegmentUpdate, session: SessionDep, actor: Writer) -> SegmentRead:
    return service.update_segment(session, segment_id=segment_id, data=body, actor=actor)


@router.delete("/{segment_id}", response_model=SegmentRead)
def archive_segment(segment_id: int, session: SessionDep, actor: Writer) -> SegmentRead:
    """Archive (segments are kept for the campaigns and snapshots that refer to them)."""
    return service.archive_segment(session, segment_id=segment_id, actor=actor)


@router.get("/{segment_id}/count")
def count(segment_id: int, session: SessionDep, _actor: Reader) -> dict[str, int]:
    return {"segment_id": segment_id, "count": service.count(session, segment_id=segment_id)}


@router.get("/{segment_id}/members", response_model=MemberPage)
def members(segment_id: int, session: SessionDep, _actor: Reader,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> MemberPage:
    return service.member_page(session, segment_id=segment_id, limit=limit, offset=offset)


@router.post("/{segment_id}/members", response_model=MembershipChange)
def add_members(segment_id: int, body: MemberIds, session: SessionDep, actor: Writer) -> MembershipChange:
    """Static segments: add customers by id (any unknown id refuses the whole request)."""
    return service.add_members(session, segment_id=segment_id, customer_ids=body.customer_ids, actor=actor)


@router.post("/{segment_id}/members/remove", response_model=MembershipChange)
def remove_members(segment_id: int, body: MemberIds, session: SessionDep, actor: Writer) -> MembershipChange:
    return service.remove_members(session, segment_id=segment_id, customer_ids=body.customer_ids, actor=actor)


@router.post("/{segment_id}/members/import", response_model=MembershipChange)
def import_members(segment_id: int, body: ExternalIds, session: SessionDep, actor: Writer) -> MembershipChange:
    """Static segments: add customers by external id; unknown ids are listed in the answer."""
    return service.import_external_ids(session, segment_id=segment_id, external_ids=body.external_ids, actor=actor)


@router.post("/{segment_id}/snapshots", status_code=201, response_model=SnapshotRead)
def snapshot(segment_id: int, body: SnapshotCreate, session: SessionDep, actor: Writer) -> SnapshotRead:
    return service.snapshot(session, segment_id=segment_id, actor=actor, as_of=body.as_of, note=body.note)


@router.get("/{segment_id}/snapshots", response_model=list[SnapshotRead])
def snapshots(segment_id: int, session: SessionDep, _actor: Reader) -> list[SnapshotRead]:
    return service.list_snapshots(session, segment_id=segment_id)


@router.get("/{segment_id}/export.csv")
def export(segment_id: int, session: SessionDep, actor: Writer) -> Response:
    """Members' contact columns as CSV (cells that a spreadsheet would run as formulas are quoted).
    Needs segments:write (managers): a bulk export of contact data, audited."""
    body = "".join(service.export_csv(session, segment_id=segment_id, actor=actor))
    return Response(content=body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'})

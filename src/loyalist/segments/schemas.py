"""Public shapes of segments: commands, reads, preview and snapshot results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from loyalist.types import RowId


class SegmentCreate(BaseModel):
    name: str
    description: str | None = None
    kind: Literal["dynamic", "static"] = "dynamic"
    rule: dict[str, Any] | None = None


class SegmentUpdate(BaseModel):
    name: str | None = None
    description: str | None = None
    rule: dict[str, Any] | None = None


class SegmentRead(BaseModel):
    id: int
    name: str
    description: str | None
    kind: str
    rule: dict[str, Any] | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    created_by: str


class RuleIn(BaseModel):
    rule: dict[str, Any]
    as_of: datetime | None = None


class CustomerBrief(BaseModel):
    id: int
    external_id: str | None
    name: str | None
    email: str | None


class Preview(BaseModel):
    count: int
    sample: list[CustomerBrief]
    seconds: float


class MemberIds(BaseModel):
    customer_ids: list[RowId] = Field(max_length=100_000)


class ExternalIds(BaseModel):
    external_ids: list[str] = Field(max_length=100_000)


class MembershipChange(BaseModel):
    segment_id: int
    added: int = 0
    removed: int = 0
    unknown: list[str] = []
    members: int


class MemberPage(BaseModel):
    items: list[int]
    total: int
    limit: int
    offset: int


class SnapshotCreate(BaseModel):
    as_of: datetime | None = None
    note: str | None = None


class SnapshotRead(BaseModel):
    id: int
    segment_id: int
    as_of: datetime
    taken_at: datetime
    rule: dict[str, Any] | None
    member_count: int
    note: str | None
    actor: str


class FieldInfo(BaseModel):
    name: str
    type: str
    ops: list[str]
    description: str
    choices: list[str] | None
    window_days: bool

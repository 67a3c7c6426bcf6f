"""Public shapes and vocabularies of staff tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

KINDS: frozenset[str] = frozenset({"call", "write", "greet", "follow_up", "review", "other"})
STATUSES: frozenset[str] = frozenset({"open", "done", "cancelled"})
# What happened when the task was done; recorded on the customer's timeline.
OUTCOMES: frozenset[str] = frozenset({
    "done", "reached", "no_answer", "left_message", "wrong_number", "declined", "not_needed",
})

TaskKind = Literal["call", "write", "greet", "follow_up", "review", "other"]
TaskStatus = Literal["open", "done", "cancelled"]
TaskOutcome = Literal["done", "reached", "no_answer", "left_message", "wrong_number", "declined", "not_needed"]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    title: str = Field(min_length=1, max_length=300)
    customer_id: int | None = None
    assignee_id: int | None = None
    due_at: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=4000)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)


class TaskComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: TaskOutcome
    note: str | None = Field(default=None, max_length=4000)


class TaskReassign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: int | None


class TaskCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    note: str | None
    customer_id: int | None
    assignee_id: int | None
    status: str
    due_at: datetime | None
    overdue: bool = False
    source_type: str | None
    source_id: str | None
    dedupe_key: str | None
    outcome: str | None
    outcome_note: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None


class TaskPage(BaseModel):
    items: list[TaskRead]
    total: int
    limit: int
    offset: int

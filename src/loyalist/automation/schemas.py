"""Public shapes of automations: trigger, conditions, actions, runs, dry-run, calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TriggerType = Literal["birthday", "anniversary", "holiday", "inactivity", "points_expiring", "churn_risk",
                      "tier_change", "nps_detractor", "case_resolved", "custom_event"]
DATE_TRIGGERS: frozenset[str] = frozenset({"birthday", "anniversary", "holiday", "inactivity",
                                           "points_expiring", "churn_risk"})
EVENT_TRIGGERS: frozenset[str] = frozenset({"tier_change", "nps_detractor", "case_resolved", "custom_event"})
ActionType = Literal["send_message", "grant_points", "issue_voucher", "add_tag", "remove_tag", "create_task",
                     "notify_manager"]
ACTION_TYPES: frozenset[str] = frozenset({"send_message", "grant_points", "issue_voucher", "add_tag",
                                          "remove_tag", "create_task", "notify_manager"})


class TriggerSpec(BaseModel):
    """What makes the automation fire. Which fields apply depends on `type` (docs/automation.md)."""

    model_config = ConfigDict(extra="forbid")

    type: TriggerType
    days: int | None = Field(default=None, ge=1, le=3650,
                             description="inactivity: days since last purchase; points_expiring: window")
    max_days: int | None = Field(default=None, ge=1, le=36500,
                                 description="inactivity: ignore customers inactive longer than this")
    days_before: int = Field(default=0, ge=0, le=60, description="birthday/anniversary/holiday: fire N days early")
    catch_up_days: int = Field(default=2, ge=0, le=14,
                               description="date triggers: still fire this many days late (worker downtime)")
    holiday: str | None = Field(default=None, max_length=50, description="holiday: calendar code")
    threshold: float | None = Field(default=None, gt=0, le=1, description="churn_risk: fire on crossing it")
    to_tier: str | None = Field(default=None, max_length=50, description="tier_change: only into this tier")
    direction: Literal["up", "down"] | None = Field(default=None, description="tier_change: only up or down")
    event_type: str | None = Field(default=None, max_length=100, description="custom_event: the event type")


class ConditionSpec(BaseModel):
    """Optional filter: the customer must be in the segment or match the rule when the run starts."""

    model_config = ConfigDict(extra="forbid")

    segment_id: int | None = None
    rule: dict[str, Any] | None = None


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ActionType
    delay_hours: int = Field(default=0, ge=0, le=24 * 366, description="run this long after the trigger")
    # send_message
    channel: str | None = Field(default=None, max_length=20)
    template: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=300)
    text: str | None = Field(default=None, max_length=10000)
    category: Literal["marketing", "transactional", "service"] = "marketing"
    # grant_points
    points: int | None = Field(default=None, ge=1, le=10_000_000)
    reason: str | None = Field(default=None, max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3660)
    # issue_voucher (a personal offer of the offers domain)
    offer_id: int | None = None
    # add_tag / remove_tag
    tag: str | None = Field(default=None, max_length=50)
    # create_task / notify_manager
    task_kind: Literal["call", "write", "greet", "follow_up", "review", "other"] | None = None
    title: str | None = Field(default=None, max_length=300)
    assignee_id: int | None = None
    due_in_hours: int | None = Field(default=None, ge=0, le=24 * 366)
    # notify_manager by webhook instead of a task
    webhook_event: str | None = Field(default=None, max_length=100)


class AutomationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    trigger: TriggerSpec
    conditions: ConditionSpec | None = None
    actions: list[ActionSpec] = Field(min_length=1, max_length=20)
    enabled: bool = True
    max_runs_per_day: int | None = Field(default=None, ge=1, le=10_000_000)


class AutomationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    trigger: TriggerSpec | None = None
    conditions: ConditionSpec | None = None
    actions: list[ActionSpec] | None = Field(default=None, min_length=1, max_length=20)
    enabled: bool | None = None
    max_runs_per_day: int | None = Field(default=None, ge=1, le=10_000_000)


class AutomationRead(BaseModel):
    id: int
    name: str
    description: str | None
    trigger: TriggerSpec
    conditions: ConditionSpec | None
    actions: list[ActionSpec]
    enabled: bool
    max_runs_per_day: int | None
    cursor_interaction_id: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class ActionRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    type: str
    due_at: datetime
    status: str
    result: dict[str, Any] | None
    error: str | None
    executed_at: datetime | None


class RunRead(BaseModel):
    id: int
    automation_id: int
    customer_id: int
    instance_key: str
    trigger_data: dict[str, Any] | None
    status: str
    created_at: datetime
    finished_at: datetime | None
    actions: list[ActionRunRead]


class RunPage(BaseModel):
    items: list[RunRead]
    total: int
    limit: int
    offset: int


class Candidate(BaseModel):
    """A customer a trigger selects, with the instance that makes the run unique."""

    customer_id: int
    instance_key: str
    data: dict[str, Any] = Field(default_factory=dict)


class DryRunResult(BaseModel):
    automation_id: int | None
    as_of: datetime
    count: int
    customers: list[Candidate]
    already_ran: int
    excluded_by_conditions: int
    truncated: bool


class EvaluationResult(BaseModel):
    """What one pass of a job did for one automation (or all of them)."""

    runs_started: int = 0
    already_ran: int = 0
    excluded_by_conditions: int = 0
    rate_limited: int = 0
    actions_done: int = 0
    actions_failed: int = 0
    actions_scheduled: int = 0
    late_commits_found: int = 0  # timeline rows that became visible after the scan mark passed them


class HolidayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=200)
    day: date


class HolidayRead(HolidayCreate):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int

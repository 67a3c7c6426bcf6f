"""Public shapes of the cases domain (cases, recovery actions, SLA configuration, routing, flags)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SEVERITIES = ("low", "normal", "high", "critical")
DEFAULT_CATEGORIES = {
    "product": "Product", "service": "Service", "delivery": "Delivery", "billing": "Billing",
    "staff": "Staff", "other": "Other",
}
FLAG_REASONS = (
    "complained", "angry_or_upset", "price", "quality", "competitor", "slow_response", "promise_broken",
    "complaint_unresolved", "visiting_less", "other",
)
Severity = Literal["low", "normal", "high", "critical"]
State = Literal["new", "acknowledged", "in_progress", "waiting_for_customer", "resolved", "follow_up_done",
                "closed"]


class CaseCreate(BaseModel):
    customer_id: int
    channel: str = Field(examples=["phone"])
    category: str = Field(examples=["delivery"])
    severity: Severity = "normal"
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=20000)
    assignee_id: int | None = None
    source_type: str | None = Field(default=None, max_length=50, examples=["feedback"])
    source_id: str | None = Field(default=None, max_length=100)


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    channel: str
    category: str
    severity: str
    subject: str
    description: str
    state: str
    assignee_id: int | None
    team: str | None
    routing_rule_id: int | None
    source_type: str | None
    source_id: str | None
    sla_policy: str
    ack_text: str | None
    ack_by: str | None
    ack_at: datetime | None
    first_response_due_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_due_at: datetime | None
    resolution_breached_at: datetime | None
    sla_paused_at: datetime | None
    sla_remaining_seconds: int | None
    escalation_level: int
    escalated_to_id: int | None
    reopen_count: int
    resolution: str | None
    resolved_at: datetime | None
    csat: int | None
    csat_comment: str | None
    followed_up_at: datetime | None
    followed_up_by: str | None
    closed_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    breached: bool = False
    allowed_transitions: list[str] = []
    suggest_reopen: bool = False


class CasePage(BaseModel):
    items: list[CaseRead]
    total: int
    limit: int
    offset: int


class CustomerCaseRead(BaseModel):
    """What the customer sees in the portal: no internal notes, assignees or SLA internals."""

    id: int
    subject: str
    description: str
    category: str
    state: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    apology: str | None
    resolution: str | None
    waiting_for_you: bool


class CaseEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    kind: str
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any] | None
    actor: str
    created_at: datetime


class CaseActionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    kind: str
    description: str
    compensation_key: str | None
    points: int | None
    reward_id: int | None
    ledger_entry_id: int | None
    redemption_id: int | None
    voucher_code: str | None
    actor: str
    created_at: datetime


class TransitionRequest(BaseModel):
    to: State
    note: str | None = Field(default=None, max_length=5000)
    override_reason: str | None = Field(default=None, max_length=1000,
                                        description="Close despite a low CSAT (managers only)")


class AcknowledgeRequest(BaseModel):
    text: str = Field(min_length=1, max_length=5000, description="The apology/acknowledgement as given")


class ActionRequest(BaseModel):
    description: str = Field(min_length=1, max_length=5000)


class CompensationRequest(BaseModel):
    kind: Literal["points", "voucher", "gesture"]
    compensation_id: str | None = Field(default=None, min_length=1, max_length=80,
                                        description="Client-chosen id; a retry with the same id posts nothing new")
    points: int | None = Field(default=None, gt=0, le=1_000_000)
    reward_id: int | None = None
    description: str = Field(min_length=1, max_length=2000)


class ResolveRequest(BaseModel):
    resolution: str = Field(min_length=1, max_length=5000)


class FollowUpRequest(BaseModel):
    csat: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)
    channel: str = "phone"


class AssignRequest(BaseModel):
    assignee_id: int | None = None
    team: str | None = Field(default=None, max_length=100)


class LinkCustomerRequest(BaseModel):
    customer_id: int


class CommentRequest(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class CustomerReply(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class SlaPolicyIn(BaseModel):
    first_response_minutes: int = Field(gt=0, le=525_600)
    resolution_minutes: int = Field(gt=0, le=5_256_000)


class SlaPolicyRead(BaseModel):
    name: str
    first_response_minutes: int
    resolution_minutes: int
    configured: bool


class IntervalIn(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    opens: str = Field(pattern=r"^\d\d:\d\d$", examples=["09:00"])
    closes: str = Field(pattern=r"^\d\d:\d\d$", examples=["17:00"], description="24:00 = end of day")


class BusinessHoursIn(BaseModel):
    intervals: list[IntervalIn]


class HolidayIn(BaseModel):
    day: date
    name: str = Field(min_length=1, max_length=200)


class CalendarRead(BaseModel):
    timezone: str
    intervals: list[IntervalIn]
    holidays: list[HolidayIn]
    configured: bool


class CategoryIn(BaseModel):
    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=200)
    active: bool = True


class CategoryRead(CategoryIn):
    pass


class RoutingRuleIn(BaseModel):
    category: str
    assignee_id: int | None = None
    team: str | None = Field(default=None, max_length=100)
    manager_id: int | None = None
    note: str | None = Field(default=None, max_length=500)


class RoutingRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    category: str
    assignee_id: int | None
    team: str | None
    manager_id: int | None
    note: str | None
    updated_at: datetime


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    reason: str
    manager_id: int | None
    task_id: int | None
    created_at: datetime


class BreachScanResult(BaseModel):
    as_of: datetime
    first_response_breaches: int
    resolution_breaches: int
    escalations: int


class FlagCreate(BaseModel):
    customer_id: int
    reason_code: str = Field(examples=["angry_or_upset"])
    note: str | None = Field(default=None, max_length=5000)
    staff_id: int | None = Field(default=None, description="Who noticed; defaults to the signed-in staff user")


class FlagDecision(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    staff_id: int
    reason_code: str
    note: str | None
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    created_by: str
    created_at: datetime


class FlagPage(BaseModel):
    items: list[FlagRead]
    total: int
    limit: int
    offset: int


class LeaderboardRow(BaseModel):
    staff_id: int
    name: str
    points: int
    confirmed_flags: int


class CustomerFlagSummary(BaseModel):
    """For churn risk and segments: how many signals staff have raised about this customer."""

    customer_id: int
    open_flags: int
    confirmed_flags: int
    dismissed_flags: int
    last_flag_at: datetime | None
    open_cases: int
    breached_open_cases: int
    last_csat: int | None

"""Public shapes of the surveys domain.

A question is data (validated here and, for cross-question rules, in the service):

    {"key": "score", "type": "nps", "text": {"en": "...", "da": "..."}, "required": true}
    {"key": "better", "type": "free_text", "text": {...},
     "show_if": {"question": "score", "min": 0, "max": 6}}          # detractors only
    {"key": "why", "type": "single_choice", "options": [{"code": "price", "text": {...}}],
     "show_if": {"question": "plan", "in": ["cancel"]}, "exit_reasons": true}

`show_if` names an EARLIER question; numeric answers match a range (min/max inclusive), choice
answers match a set (`in`; for multiple choice any chosen code matches).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalist.types import RowId

QUESTION_TYPES = ("nps", "csat", "ces", "rating", "single_choice", "multiple_choice", "free_text")
QuestionType = Literal["nps", "csat", "ces", "rating", "single_choice", "multiple_choice", "free_text"]
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
KINDS = ("nps", "csat", "ces", "relationship", "exit", "custom")
LOCALES = ("en", "ru", "uk", "da")
EXIT_REASON_CODES = ("price", "quality", "competitor_offer", "slow_response", "promise_broken",
                     "complaint_unresolved", "general_dissatisfaction", "other")
ANSWER_CHANNELS = ("web", "email", "sms", "portal", "phone", "in_store", "app", "api")
MAX_FREE_TEXT = 5000


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=50)
    min: int | None = None
    max: int | None = None
    in_: list[str] | None = Field(default=None, alias="in")


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    text: dict[str, str]


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    type: QuestionType
    text: dict[str, str]
    required: bool = False
    min: int | None = Field(default=None, description="rating only")
    max: int | None = Field(default=None, description="rating only")
    options: list[Option] = Field(default_factory=list, description="choice questions only")
    show_if: Condition | None = None
    link: str | None = Field(default=None, max_length=500, description="shown with the question, e.g. a review site")
    exit_reasons: bool = Field(default=False, description="the chosen codes are exit-reason codes")


class SurveyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["nps", "csat", "ces", "relationship", "exit", "custom"] = "custom"
    default_locale: str = "en"
    title: dict[str, str]
    questions: list[Question] = Field(min_length=1, max_length=50)
    anonymous_link: bool = False
    link_valid_days: int = Field(default=14, ge=1, le=365)
    reminder_after_days: int | None = Field(default=3, ge=1, le=90)
    max_reminders: int = Field(default=1, ge=0, le=3)
    award_points: bool = True


class SurveyUpdate(BaseModel):
    """Settings may change any time; `title`/`questions` only while nobody has answered."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    title: dict[str, str] | None = None
    questions: list[Question] | None = Field(default=None, min_length=1, max_length=50)
    status: Literal["active", "closed"] | None = None
    anonymous_link: bool | None = None
    link_valid_days: int | None = Field(default=None, ge=1, le=365)
    reminder_after_days: int | None = Field(default=None, ge=1, le=90)
    max_reminders: int | None = Field(default=None, ge=0, le=3)
    award_points: bool | None = None


class SurveyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    template_code: str | None
    version: int
    previous_id: int | None
    default_locale: str
    locales: list[str]
    title: dict[str, str]
    questions: list[dict[str, Any]]
    status: str
    public_token: str | None
    link_valid_days: int
    reminder_after_days: int | None
    max_reminders: int
    award_points: bool
    response_count: int
    created_at: datetime
    updated_at: datetime


class TemplateInfo(BaseModel):
    code: str
    kind: str
    name: str
    locales: list[str]
    questions: int


class FromTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str
    name: str | None = Field(default=None, max_length=200)
    default_locale: str = "en"
    review_link: str | None = Field(default=None, max_length=500,
                                    description="public review page offered to promoters")
    anonymous_link: bool = False


class PublicQuestion(BaseModel):
    """A question as the customer sees it, in one locale."""

    key: str
    type: str
    text: str
    required: bool
    min: int | None
    max: int | None
    options: list[dict[str, str]]
    show_if: dict[str, Any] | None
    link: str | None


class PublicSurvey(BaseModel):
    survey_id: int
    title: str
    locale: str
    questions: list[PublicQuestion]


class AnswerSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any]


class StaffAnswerSubmit(BaseModel):
    """Answers taken by staff (phone, in store) or sent by an integration."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int | None = None
    answers: dict[str, Any]
    channel: Literal["web", "email", "sms", "portal", "phone", "in_store", "app", "api"] = "phone"
    locale: str | None = None


class ResponseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survey_id: int
    survey_version: int
    customer_id: int | None
    invitation_id: int | None
    channel: str
    locale: str
    answers: dict[str, Any]
    nps: int | None
    csat: int | None
    ces: int | None
    exit_reasons: list[str]
    tier_code: str | None
    store: str | None
    tags: list[str]
    submitted_at: datetime
    points: int = 0


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[RowId] = Field(min_length=1, max_length=10000)
    channel: Literal["email", "sms"] = "email"
    fatigue_days: int = Field(default=30, ge=0, le=365,
                              description="no customer is invited more than once in this many days (any survey)")


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survey_id: int
    customer_id: int
    status: str
    skip_reason: str | None
    locale: str
    channel: str
    created_at: datetime
    expires_at: datetime | None
    reminder_count: int
    last_reminded_at: datetime | None
    answered_at: datetime | None
    response_id: int | None
    message_id: int | None


class PendingSurvey(BaseModel):
    """An invitation the customer has not answered yet (for the portal's "your surveys" list)."""

    survey_id: int
    invitation_id: int
    title: str
    locale: str
    invited_at: datetime
    expires_at: datetime | None


class InvitationStats(BaseModel):
    survey_id: int
    by_status: dict[str, int]
    skipped_by_reason: dict[str, int]
    response_rate: float | None


class InviteResult(BaseModel):
    invited: int
    skipped: dict[str, int]
    invitations: list[InvitationRead]
    links: dict[int, str] = Field(default_factory=dict,
                                  description="customer id -> personal link (for printing or other channels)")


class ReminderResult(BaseModel):
    reminded: int
    invitation_ids: list[int]


class ScoreStats(BaseModel):
    """NPS (-100..100) with a confidence interval, and CSAT (% satisfied) with a Wilson interval."""

    responses: int
    nps_n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    nps_ci_low: float | None
    nps_ci_high: float | None
    csat_n: int
    csat_satisfied: int
    csat: float | None
    csat_ci_low: float | None
    csat_ci_high: float | None


class GroupStats(ScoreStats):
    group: str
    nps_change: float | None = None


class SurveyResults(BaseModel):
    survey_id: int | None
    since: datetime | None
    until: datetime | None
    confidence: float
    overall: ScoreStats
    period: str
    trend: list[GroupStats]
    by: str | None
    groups: list[GroupStats]
    invitations: int
    invited_responses: int
    response_rate: float | None
    exit_reasons: dict[str, int]

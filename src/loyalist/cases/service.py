"""Complaints as cases, with service recovery, SLAs, escalation, routing, and staff flags.

Why it is built this way:
- **The state machine is a table** (`cases.state.TRANSITIONS`). Every move goes through
  `_move`, which checks the edge and its precondition *before* touching anything, so an illegal
  transition raises InvalidState and leaves the case, its history, the timeline and the audit
  log exactly as they were.
- **The recovery checklist is enforced, not advised**: `acknowledged` needs a recorded apology
  (who, when, text); `resolved` needs that apology, at least one action taken and a resolution
  text; `follow_up_done` needs a follow-up contact with a CSAT (1-5); `closed` needs a CSAT of 3
  or more. A CSAT of 1-2 means the customer is not satisfied: the case stays in
  `follow_up_done` with `suggest_reopen` set, and only a manager may close it anyway with an
  `override_reason` (recorded); the normal path is to reopen it.
- **Compensation is posted exactly once.** Points go through `ledger.compensate` with the key
  `case-<id>-comp-<compensation id>`; a voucher is a compensation credit of the reward's cost
  followed by a redemption with its own derived key (so the catalogue, stock and voucher rules
  apply, and the cost shows on the compensation expense account). The action row is unique per
  (case, compensation key): a retry returns the first row and posts nothing.
- **SLA clock in business time** (`cases.sla`): due instants add business minutes across
  nights, weekends and holidays in the business timezone. Waiting for the customer pauses the
  resolution clock: the unspent business seconds are stored and re-applied on resume.
- **Escalation** (breach or high/critical severity) records one `case_escalations` row per
  reason and reopen cycle (unique), raises the escalation level, points the case at the
  manager (the routing rule's manager, else the first active manager) and creates a staff
  task for that manager, so the breach scan can run any number of times.
- Texts (descriptions, apologies, comments) are personal data: they stay out of the audit log
  and are blanked by the erasure hook.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.cases import queries, sla
from loyalist.cases.models import (
    BusinessHours,
    Case,
    CaseAction,
    CaseCategory,
    CaseEscalation,
    CaseEvent,
    Holiday,
    RoutingRule,
    SlaPolicy,
    StaffFlag,
    StaffRecognition,
)
from loyalist.cases.schemas import (
    DEFAULT_CATEGORIES,
    FLAG_REASONS,
    SEVERITIES,
    BreachScanResult,
    BusinessHoursIn,
    CalendarRead,
    CaseActionRead,
    CaseCreate,
    CaseEventRead,
    CasePage,
    CaseRead,
    CategoryIn,
    CategoryRead,
    CompensationRequest,
    CustomerCaseRead,
    CustomerFlagSummary,
    EscalationRead,
    FlagPage,
    FlagRead,
    HolidayIn,
    IntervalIn,
    LeaderboardRow,
    RoutingRuleIn,
    RoutingRuleRead,
    SlaPolicyIn,
    SlaPolicyRead,
)
from loyalist.cases.state import OPEN_STATES, TRANSITIONS, is_legal, is_reopen
from loyalist.config import get_settings
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from loyalist.feedback import hooks as feedback_hooks
from loyalist.feedback import service as feedback
from loyalist.feedback.schemas import MAX_TEXT, FeedbackItemRead
from loyalist.interactions import service as interactions
from loyalist.interactions.schemas import CHANNELS
from loyalist.ledger import service as ledger
from loyalist.rewards import service as rewards
from loyalist.staff import service as staff
from loyalist.tasks import service as tasks
from loyalist.types import MAX_ROW_ID, SYSTEM, Actor

# Business minutes per SLA policy: (first response, resolution). Staff override per name.
DEFAULT_SLA: dict[str, tuple[int, int]] = {
    "critical": (30, 480),
    "high": (60, 960),
    "normal": (240, 2400),
    "low": (480, 4800),
    # A public review or mention needing an answer: a short response window.
    "public_response": (60, 960),
}
POLICY_NAMES = tuple(DEFAULT_SLA)
IMMEDIATE_ESCALATION = frozenset({"high", "critical"})
RECOGNITION_POINTS = 10
LEDGER_SOURCE = "service_recovery"
ERASED = "[erased]"
MAX_ID = MAX_ROW_ID


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _text(value: str | None, field: str, max_len: int, *, required: bool = True) -> str | None:
    cleaned = (value or "").strip()
    if "\x00" in cleaned:
        raise ValidationFailed(f"{field}: must not contain NUL characters", field=field)
    if not cleaned:
        if required:
            raise ValidationFailed(f"{field}: required", field=field)
        return None
    if len(cleaned) > max_len:
        raise ValidationFailed(f"{field}: at most {max_len} characters", field=field)
    return cleaned


def _req(value: str | None, field: str, max_len: int) -> str:
    result = _text(value, field, max_len)
    assert result is not None
    return result


def _id(value: int | None, field: str) -> None:
    """Ids beyond BIGINT are refused up front, naming the field (never a database error)."""
    if value is not None and not 0 < value <= MAX_ID:
        raise ValidationFailed(f"{field}: not a valid id", field=field)


def _customer(session: Session, customer_id: int) -> None:
    _id(customer_id, "customer_id")
    customer = customers.get_customer(session, customer_id)
    if customer.merged_into_id is not None:
        raise InvalidState(f"customer_id: customer {customer_id} was merged into {customer.merged_into_id}",
                           field="customer_id")


def _case_row(session: Session, case_id: int, *, lock: bool = False) -> Case:
    if not 0 < case_id <= MAX_ID:
        raise NotFound(f"case {case_id} not found", field="case_id")
    row = session.get(Case, case_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return row


def _check_staff(session: Session, staff_id: int | None, field: str) -> None:
    if staff_id is None:
        return
    _id(staff_id, field)
    try:
        person = staff.get_staff(session, staff_id)
    except NotFound as exc:
        raise ValidationFailed(f"{field}: staff user {staff_id} not found", field=field) from exc
    if not person.active:
        raise ValidationFailed(f"{field}: staff user {staff_id} is inactive", field=field)


def _is_breached(row: Case, now: datetime) -> bool:
    if row.first_response_breached_at is not None or row.resolution_breached_at is not None:
        return True
    if row.state == "new" and row.first_response_due_at is not None and row.first_response_due_at <= now:
        return True
    return (row.state in OPEN_STATES and row.resolution_due_at is not None and row.resolution_due_at <= now)


def _read(row: Case) -> CaseRead:
    now = clock.now()
    data = CaseRead.model_validate(row)
    return data.model_copy(update={
        "breached": _is_breached(row, now),
        "allowed_transitions": sorted(TRANSITIONS[row.state]),
        "suggest_reopen": row.state == "follow_up_done" and row.csat is not None and row.csat <= 2,
    })


def _event(session: Session, row: Case, kind: str, actor: Actor, *, note: str | None = None,
           from_state: str | None = None, to_state: str | None = None, data: dict[str, Any] | None = None,
           ) -> None:
    session.add(CaseEvent(case_id=row.id, kind=kind, from_state=from_state, to_state=to_state, note=note,
                          data=audit.jsonable(data) if data else None, actor=actor.label, created_at=clock.now()))


def _timeline(session: Session, row: Case, *, kind: str, summary: str, actor: Actor, data: dict[str, Any],
              channel: str = "system", direction: str = "internal") -> None:
    if row.customer_id is None:  # a public post by someone not (yet) known as a customer
        return
    interactions.record(session, customer_id=row.customer_id, kind=kind, channel=channel, direction=direction,
                        summary=summary, actor=actor, source_type="case", source_id=str(row.id), data=data,
                        occurred_at=clock.now())


def _touch(row: Case) -> None:
    row.updated_at = clock.now()


# ---------------------------------------------------------------------------------------------
# Configuration: categories, SLA policies, business calendar, routing rules
# ---------------------------------------------------------------------------------------------


def list_categories(session: Session, *, active_only: bool = False) -> list[CategoryRead]:
    """The configured categories; until staff configure any, the built-in list."""
    rows = list(session.scalars(select(CaseCategory).order_by(CaseCategory.id)))
    if not rows:
        return [CategoryRead(code=c, name=n, active=True) for c, n in DEFAULT_CATEGORIES.items()]
    return [CategoryRead(code=r.code, name=r.name, active=r.active) for r in rows if r.active or not active_only]


def upsert_category(session: Session, *, data: CategoryIn, actor: Actor) -> CategoryRead:
    """Add or rename/(de)activate a category. The first change copies the built-in list into the
    table, so configuring one category does not silently drop the others."""
    if session.scalar(select(func.count()).select_from(CaseCategory)) == 0:
        for code, name in DEFAULT_CATEGORIES.items():
            session.add(CaseCategory(code=code, name=name, active=True))
        session.flush()
    row = session.scalar(select(CaseCategory).where(CaseCategory.code == data.code))
    before = None if row is None else {"name": row.name, "active": row.active}
    if row is None:
        row = CaseCategory(code=data.code, name=data.name, active=data.active)
        session.add(row)
    else:
        row.name, row.active = data.name, data.active
    session.flush()
    audit.record(session, actor=actor, action="case_category.upsert", target_type="case_category",
                 target_id=row.id, before=before, after=data.model_dump())
    return CategoryRead(code=row.code, name=row.name, active=row.active)


def _check_category(session: Session, category: str) -> str:
    codes = {c.code for c in list_categories(session, active_only=True)}
    if category not in codes:
        raise ValidationFailed(f"category: must be one of {sorted(codes)}", field="category")
    return category


def list_sla_policies(session: Session) -> list[SlaPolicyRead]:
    stored = {r.name: r for r in session.scalars(select(SlaPolicy))}
    out = []
    for name, (first, resolution) in DEFAULT_SLA.items():
        row = stored.get(name)
        out.append(SlaPolicyRead(name=name, first_response_minutes=row.first_response_minutes if row else first,
                                 resolution_minutes=row.resolution_minutes if row else resolution,
                                 configured=row is not None))
    return out


def get_sla_policy(session: Session, name: str) -> SlaPolicyRead:
    for policy in list_sla_policies(session):
        if policy.name == name:
            return policy
    raise NotFound(f"name: no SLA policy {name!r} (one of {list(POLICY_NAMES)})", field="name")


def set_sla_policy(session: Session, *, name: str, data: SlaPolicyIn, actor: Actor) -> SlaPolicyRead:
    """Set the business-minute budgets of a policy. Applies to cases opened (or reopened) later;
    due instants already computed stay as promised."""
    before = get_sla_policy(session, name)
    if data.first_response_minutes > data.resolution_minutes:
        raise ValidationFailed("first_response_minutes: cannot exceed resolution_minutes",
                               field="first_response_minutes")
    row = session.scalar(select(SlaPolicy).where(SlaPolicy.name == name))
    if row is None:
        row = SlaPolicy(name=name, first_response_minutes=0, resolution_minutes=0, updated_at=clock.now())
        session.add(row)
    row.first_response_minutes = data.first_response_minutes
    row.resolution_minutes = data.resolution_minutes
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="case_sla.set", target_type="case_sla_policy", target_id=row.id,
                 before=before.model_dump(), after=data.model_dump())
    return get_sla_policy(session, name)


def reset_sla_policy(session: Session, *, name: str, actor: Actor) -> SlaPolicyRead:
    """Back to the built-in budgets."""
    before = get_sla_policy(session, name)
    session.execute(delete(SlaPolicy).where(SlaPolicy.name == name))
    audit.record(session, actor=actor, action="case_sla.reset", target_type="case_sla_policy", target_id=None,
                 before=before.model_dump(), after={"name": name})
    return get_sla_policy(session, name)


def _minute_of(text: str, field: str) -> int:
    hours, minutes = (int(p) for p in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValidationFailed(f"{field}: not a time of day (00:00-24:00)", field=field)
    return hours * 60 + minutes


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def calendar(session: Session) -> sla.Calendar:
    """The business calendar SLAs are computed in (settings timezone; Mon-Fri 09-17 by default)."""
    rows = list(session.scalars(select(BusinessHours).order_by(BusinessHours.weekday, BusinessHours.opens_minute)))
    week: dict[int, list[tuple[int, int]]] = {}
    for r in rows:
        week.setdefault(r.weekday, []).append((r.opens_minute, r.closes_minute))
    holidays = frozenset(session.scalars(select(Holiday.day)))
    if not rows:
        return sla.Calendar(timezone=get_settings().timezone, holidays=holidays)
    return sla.Calendar(timezone=get_settings().timezone, week=week, holidays=holidays)


def get_calendar(session: Session) -> CalendarRead:
    cal = calendar(session)
    configured = session.scalar(select(func.count()).select_from(BusinessHours)) != 0
    intervals = [IntervalIn(weekday=d, opens=_hhmm(s), closes=_hhmm(e))
                 for d in sorted(cal.week) for s, e in sorted(cal.week[d])]
    holidays = [HolidayIn(day=h.day, name=h.name) for h in session.scalars(select(Holiday).order_by(Holiday.day))]
    return CalendarRead(timezone=cal.timezone, intervals=intervals, holidays=holidays, configured=configured)


def set_business_hours(session: Session, *, data: BusinessHoursIn, actor: Actor) -> CalendarRead:
    """Replace the weekly calendar. Refused (nothing changed) when it has no hours at all or
    intervals overlap, because no SLA could ever come due."""
    parsed = []
    week: dict[int, list[tuple[int, int]]] = {}
    for i, interval in enumerate(data.intervals):
        start = _minute_of(interval.opens, f"intervals.{i}.opens")
        end = _minute_of(interval.closes, f"intervals.{i}.closes")
        if end <= start:
            raise ValidationFailed(f"intervals.{i}.closes: must be after opens", field=f"intervals.{i}.closes")
        parsed.append((interval.weekday, start, end))
        week.setdefault(interval.weekday, []).append((start, end))
    if not parsed:
        raise ValidationFailed("intervals: at least one opening interval is required", field="intervals")
    try:
        sla.Calendar(timezone=get_settings().timezone, week=week)
    except ValueError as exc:
        raise ValidationFailed(f"intervals: {exc}", field="intervals") from exc
    before = get_calendar(session).model_dump(mode="json")["intervals"]
    session.execute(delete(BusinessHours))
    for weekday, start, end in parsed:
        session.add(BusinessHours(weekday=weekday, opens_minute=start, closes_minute=end))
    session.flush()
    after = get_calendar(session)
    audit.record(session, actor=actor, action="case_calendar.set", target_type="case_calendar", target_id=None,
                 before={"intervals": before}, after={"intervals": after.model_dump(mode="json")["intervals"]})
    return after


def add_holiday(session: Session, *, data: HolidayIn, actor: Actor) -> CalendarRead:
    if session.scalar(select(Holiday.id).where(Holiday.day == data.day)) is not None:
        raise Conflict(f"day: {data.day.isoformat()} is already a holiday", field="day")
    session.add(Holiday(day=data.day, name=_req(data.name, "name", 200)))
    session.flush()
    audit.record(session, actor=actor, action="case_holiday.add", target_type="case_calendar", target_id=None,
                 after=data.model_dump(mode="json"))
    return get_calendar(session)


def remove_holiday(session: Session, *, day: date, actor: Actor) -> CalendarRead:
    row = session.scalar(select(Holiday).where(Holiday.day == day))
    if row is None:
        raise NotFound(f"day: {day.isoformat()} is not a holiday", field="day")
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="case_holiday.remove", target_type="case_calendar", target_id=None,
                 before={"day": day.isoformat()})
    return get_calendar(session)


def list_routing_rules(session: Session) -> list[RoutingRuleRead]:
    return [RoutingRuleRead.model_validate(r)
            for r in session.scalars(select(RoutingRule).order_by(RoutingRule.category))]


def set_routing_rule(session: Session, *, data: RoutingRuleIn, actor: Actor) -> RoutingRuleRead:
    """Create or replace the rule of a category: who answers it (product expert and/or team)
    and which manager an escalation goes to."""
    _check_category(session, data.category)
    if data.assignee_id is None and not (data.team or "").strip():
        raise ValidationFailed("assignee_id: a rule needs an assignee or a team", field="assignee_id")
    _check_staff(session, data.assignee_id, "assignee_id")
    _check_staff(session, data.manager_id, "manager_id")
    row = session.scalar(select(RoutingRule).where(RoutingRule.category == data.category))
    before = None if row is None else RoutingRuleRead.model_validate(row).model_dump(mode="json")
    if row is None:
        row = RoutingRule(category=data.category, updated_at=clock.now())
        session.add(row)
    row.assignee_id, row.manager_id = data.assignee_id, data.manager_id
    row.team = _text(data.team, "team", 100, required=False)
    row.note = _text(data.note, "note", 500, required=False)
    row.updated_at = clock.now()
    session.flush()
    result = RoutingRuleRead.model_validate(row)
    audit.record(session, actor=actor, action="case_routing.set", target_type="case_routing_rule",
                 target_id=row.id, before=before, after=result.model_dump(mode="json"))
    return result


def delete_routing_rule(session: Session, *, rule_id: int, actor: Actor) -> None:
    row = session.get(RoutingRule, rule_id) if 0 < rule_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"routing rule {rule_id} not found", field="rule_id")
    before = RoutingRuleRead.model_validate(row).model_dump(mode="json")
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="case_routing.delete", target_type="case_routing_rule",
                 target_id=rule_id, before=before)


# ---------------------------------------------------------------------------------------------
# Opening cases
# ---------------------------------------------------------------------------------------------


def _check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValidationFailed(f"channel: must be one of {sorted(CHANNELS)}", field="channel")
    return channel


def create_case(session: Session, *, data: CaseCreate, actor: Actor, sla_policy: str | None = None) -> CaseRead:
    """Open a case: validate, route (rule for the category unless an assignee is given), start
    the SLA clock, analyse the complaint text (feedback), put it on the timeline, and escalate at
    once when severity is high/critical.

    `sla_policy` defaults to the severity; `public_response` is the short window used for reviews
    and mentions that need an answer."""
    _customer(session, data.customer_id)
    return _create(session, customer_id=data.customer_id, channel=data.channel, category=data.category,
                   severity=data.severity, subject=data.subject, description=data.description,
                   assignee_id=data.assignee_id, source_type=data.source_type, source_id=data.source_id,
                   sla_policy=sla_policy, actor=actor)


def _create(session: Session, *, customer_id: int | None, channel: str, category: str, severity: str,
            subject: str, description: str, assignee_id: int | None, source_type: str | None,
            source_id: str | None, sla_policy: str | None, actor: Actor, analyse: bool = True) -> CaseRead:
    _check_channel(channel)
    _check_category(session, category)
    if severity not in SEVERITIES:
        raise ValidationFailed(f"severity: must be one of {list(SEVERITIES)}", field="severity")
    subject_ = _req(subject, "subject", 300)
    description_ = _req(description, "description", 20000)
    _check_staff(session, assignee_id, "assignee_id")
    policy = get_sla_policy(session, sla_policy or severity)
    rule = session.scalar(select(RoutingRule).where(RoutingRule.category == category))
    team, rule_id = None, None
    if rule is not None:
        team, rule_id = rule.team, rule.id
        if assignee_id is None:
            assignee_id = rule.assignee_id
    now = clock.now()
    cal = calendar(session)
    row = Case(
        customer_id=customer_id, channel=channel, category=category, severity=severity,
        subject=subject_, description=description_, state="new", assignee_id=assignee_id, team=team,
        routing_rule_id=rule_id, source_type=_text(source_type, "source_type", 50, required=False),
        source_id=_text(source_id, "source_id", 100, required=False), sla_policy=policy.name,
        first_response_due_at=sla.add_business_minutes(now, policy.first_response_minutes, cal),
        resolution_due_at=sla.add_business_minutes(now, policy.resolution_minutes, cal),
        escalation_level=0, reopen_count=0, created_by=actor.label, created_at=now, updated_at=now,
    )
    session.add(row)
    session.flush()
    _event(session, row, "opened", actor, to_state="new",
           data={"assignee_id": assignee_id, "team": team, "routing_rule_id": rule_id, "sla_policy": policy.name})
    audit.record(session, actor=actor, action="case.open", target_type="case", target_id=row.id,
                 after={"customer_id": row.customer_id, "category": row.category, "severity": row.severity,
                        "channel": row.channel, "assignee_id": assignee_id, "routing_rule_id": rule_id,
                        "sla_policy": policy.name, "first_response_due_at": row.first_response_due_at,
                        "resolution_due_at": row.resolution_due_at, "source_type": row.source_type,
                        "source_id": row.source_id})
    _timeline(session, row, kind="complaint", channel=row.channel, direction="inbound", actor=actor,
              summary=f"Case #{row.id} opened ({row.category}, {row.severity}): {subject_}",
              data={"case_id": row.id, "category": row.category, "severity": row.severity})
    if analyse:
        # Language, sentiment and reasons of the complaint text, for the themes view and training.
        feedback.record_text(session, customer_id=customer_id, text=description_[:MAX_TEXT], source_type="case",
                             source_id=str(row.id), occurred_at=now, channel=row.channel, actor=actor)
    if row.severity in IMMEDIATE_ESCALATION:
        _escalate(session, row, reason=f"severity_{row.severity}", actor=actor)
    session.flush()
    return _read(row)


# Feedback reason tag -> case category (first match wins; otherwise "other").
TAG_CATEGORY = {"delivery": "delivery", "staff": "staff", "quality": "product", "product_availability": "product",
                "price": "billing", "service": "service", "slow_response": "service",
                "complaint_unresolved": "service", "promise_broken": "service"}


def open_case_for_feedback(session: Session, *, item: FeedbackItemRead, actor: Actor) -> CaseRead:
    """`feedback.hooks.on_needs_answer` handler: a review or mention that needs an answer becomes
    a case with the short `public_response` SLA. Idempotent per feedback item. The author may be
    unknown (no customer): the case is then not on any timeline until staff link it."""
    found = session.scalar(select(Case).where(Case.source_type == "feedback", Case.source_id == str(item.id)))
    if found is not None:
        return _read(found)
    active = {c.code for c in list_categories(session, active_only=True)}
    category = next((TAG_CATEGORY[t.code] for t in item.tags
                     if t.code in TAG_CATEGORY and TAG_CATEGORY[t.code] in active), None)
    if category is None:
        category = "other" if "other" in active else sorted(active)[0]
    where = f" on {item.platform}" if item.platform else ""
    who = f" by {item.author}" if item.author else ""
    customer_id = item.customer_id
    if customer_id is not None:
        customer = customers.get_customer(session, customer_id)
        customer_id = customer.merged_into_id or customer_id
    return _create(session, customer_id=customer_id, channel=item.channel, category=category,
                   severity="high" if item.sentiment == "negative" else "normal",
                   subject=f"Public {item.source_type}{where}{who} needs an answer"[:300],
                   description=item.text, assignee_id=None, source_type="feedback", source_id=str(item.id),
                   sla_policy="public_response", actor=actor, analyse=False)


def open_case(session: Session, *, customer_id: int, channel: str, category: str, severity: str, subject: str,
              description: str, actor: Actor) -> CaseRead:
    """Customer-facing entry point (portal, integrations): the same rules as `create_case`."""
    if severity not in SEVERITIES:
        raise ValidationFailed(f"severity: must be one of {list(SEVERITIES)}", field="severity")
    return create_case(session, actor=actor, data=CaseCreate.model_construct(
        customer_id=customer_id, channel=channel, category=category, severity=severity, subject=subject,
        description=description, assignee_id=None, source_type=None, source_id=None))


def get_case(session: Session, case_id: int, *, customer_id: int | None = None) -> CaseRead:
    """A case; with `customer_id` (the portal), another customer's case is NotFound."""
    row = _case_row(session, case_id)
    if customer_id is not None and row.customer_id != customer_id:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return _read(row)


def _customer_view(row: Case) -> CustomerCaseRead:
    return CustomerCaseRead(id=row.id, subject=row.subject, description=row.description, category=row.category,
                            state=row.state, created_at=row.created_at, updated_at=row.updated_at,
                            resolved_at=row.resolved_at, apology=row.ack_text, resolution=row.resolution,
                            waiting_for_you=row.state == "waiting_for_customer")


def list_cases_for_customer(session: Session, customer_id: int) -> list[CustomerCaseRead]:
    """The customer's own cases, newest first, in the shape the portal shows."""
    rows = session.scalars(select(Case).where(Case.customer_id == customer_id).order_by(Case.id.desc()))
    return [_customer_view(r) for r in rows]


def get_customer_case(session: Session, *, case_id: int, customer_id: int) -> CustomerCaseRead:
    row = _case_row(session, case_id)
    if row.customer_id != customer_id:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return _customer_view(row)


def list_cases(
    session: Session, *, state: str | None = None, assignee_id: int | None = None, severity: str | None = None,
    breached: bool | None = None, category: str | None = None, customer_id: int | None = None,
    limit: int = 50, offset: int = 0,
) -> CasePage:
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit: must be between 1 and 500", field="limit")
    if offset < 0:
        raise ValidationFailed("offset: must be >= 0", field="offset")
    _id(assignee_id, "assignee_id")
    _id(customer_id, "customer_id")
    if state is not None and state not in TRANSITIONS:
        raise ValidationFailed(f"state: must be one of {list(TRANSITIONS)}", field="state")
    if severity is not None and severity not in SEVERITIES:
        raise ValidationFailed(f"severity: must be one of {list(SEVERITIES)}", field="severity")
    rows, total = queries.list_cases(session, now=clock.now(), state=state, assignee_id=assignee_id,
                                     severity=severity, breached=breached, category=category,
                                     customer_id=customer_id, limit=limit, offset=offset)
    return CasePage(items=[_read(r) for r in rows], total=total, limit=limit, offset=offset)


def list_customer_cases(session: Session, customer_id: int) -> list[CaseRead]:
    """All of a customer's cases in the staff shape, newest first (the 360 view)."""
    rows = session.scalars(select(Case).where(Case.customer_id == customer_id).order_by(Case.id.desc()))
    return [_read(r) for r in rows]


def sla_summary(session: Session, *, days: int = 30) -> dict[str, Any]:
    """SLA compliance over the last `days` (dashboard): open and breached-open cases now, share of
    first responses and resolutions within their SLA, average follow-up CSAT. Empty when there
    are no cases at all."""
    now = clock.now()
    since = now - timedelta(days=days)
    if session.scalar(select(func.count()).select_from(Case)) == 0:
        return {}
    open_q = select(func.count()).select_from(Case).where(Case.state.in_(OPEN_STATES))
    acked = session.execute(select(Case.ack_at, Case.first_response_breached_at)
                            .where(Case.ack_at.is_not(None), Case.ack_at >= since)).all()
    resolved = session.execute(select(Case.resolution_breached_at)
                               .where(Case.resolved_at.is_not(None), Case.resolved_at >= since)).all()
    csat = session.scalar(select(func.avg(Case.csat)).where(Case.followed_up_at >= since))

    def pct(hits: int, total: int) -> str:
        return f"{100 * hits / total:.0f}% of {total}" if total else "-"

    return {
        "open_cases": int(session.scalar(open_q) or 0),
        "breached_open_cases": int(session.scalar(open_q.where(queries.breached_clause(now))) or 0),
        "opened_last_days": int(session.scalar(select(func.count()).select_from(Case)
                                               .where(Case.created_at >= since)) or 0),
        "first_response_within_sla": pct(sum(1 for _, b in acked if b is None), len(acked)),
        "resolved_within_sla": pct(sum(1 for (b,) in resolved if b is None), len(resolved)),
        "average_csat": "-" if csat is None else f"{float(csat):.1f}",
    }


def list_events(session: Session, case_id: int) -> list[CaseEventRead]:
    _case_row(session, case_id)
    rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
    return [CaseEventRead.model_validate(r) for r in rows]


def list_actions(session: Session, case_id: int) -> list[CaseActionRead]:
    _case_row(session, case_id)
    rows = session.scalars(select(CaseAction).where(CaseAction.case_id == case_id).order_by(CaseAction.id))
    return [CaseActionRead.model_validate(r) for r in rows]


def list_escalations(session: Session, case_id: int) -> list[EscalationRead]:
    _case_row(session, case_id)
    rows = session.scalars(select(CaseEscalation).where(CaseEscalation.case_id == case_id)
                           .order_by(CaseEscalation.id))
    return [EscalationRead.model_validate(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------------


def _has_action(session: Session, case_id: int) -> bool:
    return session.scalar(select(CaseAction.id).where(CaseAction.case_id == case_id).limit(1)) is not None


def _precondition(session: Session, row: Case, to: str, *, note: str | None, override_reason: str | None,
                  actor: Actor) -> str | None:
    """Why the edge may not be taken now (None = allowed). Reads only; changes nothing."""
    frm = row.state
    if not is_legal(frm, to):
        allowed = ", ".join(sorted(TRANSITIONS[frm])) or "none"
        return f"cannot move a case from {frm} to {to} (allowed: {allowed})"
    if to == "acknowledged" and row.ack_at is None:
        return "record the acknowledgement/apology first (acknowledge)"
    if to == "resolved":
        if row.ack_at is None:
            return "a case cannot be resolved without a recorded acknowledgement/apology"
        if not _has_action(session, row.id):
            return "a case cannot be resolved before at least one action has been taken"
        if not (note or "").strip():
            return "describe the resolution (note)"
    if to == "follow_up_done" and row.followed_up_at is None:
        return "record the follow-up contact with a CSAT score first (follow-up)"
    if to == "closed" and row.csat is not None and row.csat <= 2:
        if not (override_reason or "").strip():
            return (f"the customer is not satisfied (CSAT {row.csat}); reopen the case, or a manager may close "
                    "it with override_reason")
        if actor.role not in ("admin", "manager"):
            return "only a manager may close a case despite a low CSAT"
    if is_reopen(frm, to) and not (note or "").strip():
        return "give the reason for reopening (note)"
    return None


def _move(session: Session, row: Case, to: str, *, actor: Actor, note: str | None = None,
          override_reason: str | None = None) -> None:
    """Take one edge of the table. Every check runs before the first write, so a refusal
    (InvalidState/PermissionDenied) changes nothing."""
    problem = _precondition(session, row, to, note=note, override_reason=override_reason, actor=actor)
    if problem is not None:
        error = PermissionDenied if problem.startswith("only a manager") else InvalidState
        raise error(f"to: {problem}", field="to", details={"state": row.state, "to": to})
    frm = row.state
    now = clock.now()
    cal = calendar(session)
    # The resolution clock stops while the customer has the ball and restarts with what was left.
    if to == "waiting_for_customer":
        due = row.resolution_due_at
        row.sla_remaining_seconds = sla.business_seconds_between(now, due, cal) if due is not None else 0
        row.sla_paused_at = now
        row.resolution_due_at = None
    elif frm == "waiting_for_customer":
        row.resolution_due_at = sla.add_business_seconds(now, row.sla_remaining_seconds or 0, cal)
        row.sla_paused_at = None
        row.sla_remaining_seconds = None
    if to == "resolved":
        row.resolved_at = now
        row.resolution = (note or "").strip()
        if (row.resolution_due_at is not None and row.resolution_due_at < now
                and row.resolution_breached_at is None):
            row.resolution_breached_at = row.resolution_due_at
    if to == "closed":
        row.closed_at = now
    if is_reopen(frm, to):
        policy = get_sla_policy(session, row.sla_policy)
        row.reopen_count += 1
        row.resolved_at = row.closed_at = None
        row.csat = None
        row.csat_comment = row.followed_up_at = row.followed_up_by = None
        row.resolution_breached_at = None
        row.resolution_due_at = sla.add_business_minutes(now, policy.resolution_minutes, cal)
    row.state = to
    _touch(row)
    data: dict[str, Any] = {}
    if override_reason and to == "closed":
        data["override_reason"] = override_reason.strip()
    _event(session, row, "reopened" if is_reopen(frm, to) else "transition", actor, from_state=frm, to_state=to,
           note=(note or "").strip() or None, data=data or None)
    session.flush()
    audit.record(session, actor=actor, action="case.transition", target_type="case", target_id=row.id,
                 before={"state": frm}, after={"state": to, "reopen_count": row.reopen_count,
                                               "resolution_due_at": row.resolution_due_at,
                                               "override": bool(data)})
    label = to.replace("_", " ")
    _timeline(session, row, kind="case_update", actor=actor,
              summary=f"Case #{row.id} {'reopened' if is_reopen(frm, to) else label}: {row.subject}",
              data={"case_id": row.id, "from": frm, "to": to})


def transition(session: Session, *, case_id: int, to: str, actor: Actor, note: str | None = None,
               override_reason: str | None = None) -> CaseRead:
    """Move a case along one legal edge (see `cases.state`). For `resolved` the note is the
    resolution; for a reopen it is the reason."""
    if to not in TRANSITIONS:
        raise ValidationFailed(f"to: must be one of {list(TRANSITIONS)}", field="to")
    row = _case_row(session, case_id, lock=True)
    _move(session, row, to, actor=actor, note=note, override_reason=override_reason)
    return _read(row)


def acknowledge(session: Session, *, case_id: int, text: str, actor: Actor) -> CaseRead:
    """Record the acknowledgement/apology as given to the customer (who, when, text) and move
    new -> acknowledged. This is the first response the SLA measures."""
    body = _req(text, "text", 5000)
    row = _case_row(session, case_id, lock=True)
    if row.state != "new":
        raise InvalidState(f"to: case {case_id} is {row.state}; only a new case is acknowledged", field="to",
                           details={"state": row.state, "to": "acknowledged"})
    now = clock.now()
    row.ack_text, row.ack_by, row.ack_at = body, actor.label, now
    if (row.first_response_due_at is not None and row.first_response_due_at < now
            and row.first_response_breached_at is None):
        row.first_response_breached_at = row.first_response_due_at
    _event(session, row, "acknowledged", actor, note=body)
    _move(session, row, "acknowledged", actor=actor)
    return _read(row)


def _open_for_work(row: Case, what: str) -> None:
    if row.state == "closed":
        raise InvalidState(f"case_id: case {row.id} is closed; reopen it to {what}", field="case_id",
                           details={"state": row.state})


def add_action(session: Session, *, case_id: int, description: str, actor: Actor) -> CaseActionRead:
    """Record an action taken for the customer (replacement sent, refund started, call made...)."""
    body = _req(description, "description", 5000)
    row = _case_row(session, case_id, lock=True)
    _open_for_work(row, "record actions")
    action = CaseAction(case_id=row.id, kind="action", description=body, actor=actor.label,
                        created_at=clock.now())
    session.add(action)
    _touch(row)
    session.flush()
    _event(session, row, "action", actor, note=body, data={"action_id": action.id})
    audit.record(session, actor=actor, action="case.action", target_type="case", target_id=row.id,
                 after={"action_id": action.id, "kind": "action"})
    return CaseActionRead.model_validate(action)


def _same_compensation(found: CaseAction, data: CompensationRequest) -> bool:
    return (found.kind == data.kind and found.points == (data.points if data.kind == "points" else None)
            and found.reward_id == (data.reward_id if data.kind == "voucher" else None))


def _post_compensation(session: Session, row: Case, action: CaseAction, data: CompensationRequest, *, key: str,
                       body: str, actor: Actor) -> None:
    """Ledger credit (and voucher) plus the action row, all in one savepoint: all or nothing."""
    assert row.customer_id is not None
    with session.begin_nested():
        if data.kind == "points":
            entry = ledger.compensate(session, customer_id=row.customer_id, points=int(data.points or 0),
                                      reason=f"case #{row.id}: {body}"[:500], actor=actor, idempotency_key=key,
                                      source=LEDGER_SOURCE, reference_type="case", reference_id=str(row.id))
            action.points, action.ledger_entry_id = entry.points, entry.id
        elif data.kind == "voucher":
            reward = rewards.get_reward(session, int(data.reward_id or 0))
            entry = ledger.compensate(session, customer_id=row.customer_id, points=reward.cost_points,
                                      reason=f"case #{row.id}: voucher {reward.name}"[:500], actor=actor,
                                      idempotency_key=key, source=LEDGER_SOURCE, reference_type="case",
                                      reference_id=str(row.id))
            redemption = rewards.redeem_reward(session, customer_id=row.customer_id, reward_id=reward.id,
                                               idempotency_key=f"{key}-voucher", actor=actor)
            action.reward_id, action.ledger_entry_id = reward.id, entry.id
            action.redemption_id, action.voucher_code = redemption.id, redemption.voucher.code
        session.add(action)
        session.flush()


def compensate(session: Session, *, case_id: int, data: CompensationRequest, actor: Actor) -> CaseActionRead:
    """Compensate the customer: points (ledger compensation entry), a voucher from the rewards
    catalogue, or a non-monetary gesture. With the same `compensation_id` a retry returns the
    first action and posts nothing; the same id with other content is an IdempotencyConflict."""
    if data.kind in ("points", "voucher") and not data.compensation_id:
        raise ValidationFailed("compensation_id: required for points and vouchers (send the Idempotency-Key "
                               "header), so a retry cannot compensate twice", field="compensation_id")
    if data.kind == "points" and data.points is None:
        raise ValidationFailed("points: required for a points compensation", field="points")
    if data.kind == "voucher" and data.reward_id is None:
        raise ValidationFailed("reward_id: required for a voucher compensation", field="reward_id")
    _id(data.reward_id, "reward_id")
    body = _req(data.description, "description", 2000)
    comp_id = (data.compensation_id or uuid.uuid4().hex).strip()
    row = _case_row(session, case_id, lock=True)
    found = session.scalar(select(CaseAction).where(CaseAction.case_id == row.id,
                                                    CaseAction.compensation_key == comp_id))
    if found is not None:
        if not _same_compensation(found, data):
            raise IdempotencyConflict(f"compensation_id: {comp_id!r} was already used for a {found.kind} "
                                      "compensation of this case", field="compensation_id")
        return CaseActionRead.model_validate(found)
    _open_for_work(row, "compensate")
    if row.customer_id is None:
        raise InvalidState(f"case_id: case {row.id} has no customer yet; link one before compensating",
                           field="case_id")
    key = f"case-{row.id}-comp-{comp_id}"
    now = clock.now()
    action = CaseAction(case_id=row.id, kind=data.kind, description=body, compensation_key=comp_id,
                        actor=actor.label, created_at=now)
    try:
        _post_compensation(session, row, action, data, key=key, body=body, actor=actor)
    except IntegrityError:
        # A concurrent request with the same compensation id committed first: answer as it did.
        found = session.scalar(select(CaseAction).where(CaseAction.case_id == row.id,
                                                        CaseAction.compensation_key == comp_id))
        if found is None or not _same_compensation(found, data):
            raise
        return CaseActionRead.model_validate(found)
    _touch(row)
    _event(session, row, "compensation", actor, note=body,
           data={"action_id": action.id, "kind": data.kind, "points": action.points, "reward_id": action.reward_id,
                 "voucher": action.voucher_code, "ledger_entry_id": action.ledger_entry_id})
    audit.record(session, actor=actor, action="case.compensate", target_type="case", target_id=row.id,
                 after={"action_id": action.id, "kind": data.kind, "points": action.points,
                        "reward_id": action.reward_id, "ledger_entry_id": action.ledger_entry_id,
                        "redemption_id": action.redemption_id, "compensation_id": comp_id})
    if data.kind == "gesture":  # points and vouchers are already on the timeline (ledger, rewards)
        _timeline(session, row, kind="complaint", actor=actor, channel=row.channel, direction="outbound",
                  summary=f"Case #{row.id}: goodwill gesture: {body}",
                  data={"case_id": row.id, "compensation": "gesture", "action_id": action.id})
    session.flush()
    return CaseActionRead.model_validate(action)


def resolve(session: Session, *, case_id: int, resolution: str, actor: Actor) -> CaseRead:
    return transition(session, case_id=case_id, to="resolved", note=resolution, actor=actor)


def record_follow_up(session: Session, *, case_id: int, csat: int, actor: Actor, comment: str | None = None,
                     channel: str = "phone") -> CaseRead:
    """The follow-up contact after resolution, with the customer's satisfaction (CSAT 1-5).
    Moves resolved -> follow_up_done. A CSAT of 1-2 is recorded too, but the case cannot be
    closed then (see module doc): `suggest_reopen` is set on the result."""
    if not isinstance(csat, int) or isinstance(csat, bool) or not 1 <= csat <= 5:
        raise ValidationFailed("csat: must be an integer from 1 to 5", field="csat")
    _check_channel(channel)
    note = _text(comment, "comment", 5000, required=False)
    row = _case_row(session, case_id, lock=True)
    if row.state != "resolved":
        raise InvalidState(f"to: case {case_id} is {row.state}; the follow-up comes after resolution", field="to",
                           details={"state": row.state, "to": "follow_up_done"})
    now = clock.now()
    row.csat, row.csat_comment, row.followed_up_at, row.followed_up_by = csat, note, now, actor.label
    _event(session, row, "follow_up", actor, note=note, data={"csat": csat, "channel": channel})
    _timeline(session, row, kind="complaint", actor=actor, channel=channel, direction="outbound",
              summary=f"Case #{row.id}: follow-up contact, satisfaction {csat}/5",
              data={"case_id": row.id, "csat": csat})
    _move(session, row, "follow_up_done", actor=actor)
    return _read(row)


def assign(session: Session, *, case_id: int, assignee_id: int | None, actor: Actor,
           team: str | None = None) -> CaseRead:
    _check_staff(session, assignee_id, "assignee_id")
    row = _case_row(session, case_id, lock=True)
    _open_for_work(row, "reassign it")
    before = {"assignee_id": row.assignee_id, "team": row.team}
    row.assignee_id = assignee_id
    row.team = _text(team, "team", 100, required=False) if team is not None else row.team
    _touch(row)
    _event(session, row, "assigned", actor, data={"before": before, "assignee_id": assignee_id, "team": row.team})
    session.flush()
    audit.record(session, actor=actor, action="case.assign", target_type="case", target_id=row.id,
                 before=before, after={"assignee_id": assignee_id, "team": row.team})
    return _read(row)


def link_customer(session: Session, *, case_id: int, customer_id: int, actor: Actor) -> CaseRead:
    """Attach a known customer to a case opened from a public review/mention by an unknown author."""
    row = _case_row(session, case_id, lock=True)
    if row.customer_id is not None:
        raise InvalidState(f"customer_id: case {case_id} already belongs to customer {row.customer_id}",
                           field="customer_id")
    _customer(session, customer_id)
    row.customer_id = customer_id
    _touch(row)
    _event(session, row, "customer_linked", actor, data={"customer_id": customer_id})
    session.flush()
    audit.record(session, actor=actor, action="case.link_customer", target_type="case", target_id=row.id,
                 before={"customer_id": None}, after={"customer_id": customer_id})
    _timeline(session, row, kind="complaint", channel=row.channel, direction="inbound", actor=actor,
              summary=f"Case #{row.id} ({row.category}): {row.subject}",
              data={"case_id": row.id, "category": row.category, "severity": row.severity})
    return _read(row)


def comment(session: Session, *, case_id: int, text: str, actor: Actor) -> CaseEventRead:
    """An internal note on the case (not shown to the customer)."""
    body = _req(text, "text", 5000)
    row = _case_row(session, case_id)
    event = CaseEvent(case_id=row.id, kind="comment", note=body, actor=actor.label, created_at=clock.now())
    session.add(event)
    _touch(row)
    session.flush()
    audit.record(session, actor=actor, action="case.comment", target_type="case", target_id=row.id,
                 after={"event_id": event.id})
    return CaseEventRead.model_validate(event)


def customer_reply(session: Session, *, case_id: int, customer_id: int, text: str, actor: Actor,
                   channel: str = "portal") -> CustomerCaseRead:
    """The customer answers (portal, email). A case waiting for the customer goes back to
    in_progress and its resolution clock restarts; on other open cases the reply is just added.
    A closed case is not reopened by a reply: staff decide that."""
    body = _req(text, "text", 5000)
    _check_channel(channel)
    row = _case_row(session, case_id, lock=True)
    if row.customer_id != customer_id:
        raise NotFound(f"case {case_id} not found", field="case_id")
    if row.state == "closed":
        raise InvalidState(f"case_id: case {case_id} is closed", field="case_id", details={"state": row.state})
    event = CaseEvent(case_id=row.id, kind="customer_reply", note=body, actor=actor.label, created_at=clock.now())
    session.add(event)
    session.flush()
    feedback.record_text(session, customer_id=customer_id, text=body, source_type="case_reply",
                         source_id=f"{row.id}-{event.id}", channel=channel, actor=actor)
    _timeline(session, row, kind="complaint", actor=actor, channel=channel, direction="inbound",
              summary=f"Case #{row.id}: customer replied", data={"case_id": row.id})
    if row.state == "waiting_for_customer":
        _move(session, row, "in_progress", actor=actor, note="customer replied")
    else:
        _touch(row)
        session.flush()
    return _customer_view(row)


# ---------------------------------------------------------------------------------------------
# SLA breaches and escalation
# ---------------------------------------------------------------------------------------------


def _manager_for(session: Session, row: Case) -> int | None:
    rule = session.get(RoutingRule, row.routing_rule_id) if row.routing_rule_id else None
    if rule is not None and rule.manager_id is not None:
        return rule.manager_id
    managers = [s for s in staff.list_staff(session) if s.active and s.role == "manager"]
    return managers[0].id if managers else None


def _escalate(session: Session, row: Case, *, reason: str, actor: Actor) -> bool:
    """Escalate once per (reason, reopen cycle). Returns False when it already was."""
    dedupe = f"{reason}:{row.reopen_count}"
    exists = session.scalar(select(CaseEscalation.id).where(CaseEscalation.case_id == row.id,
                                                            CaseEscalation.dedupe_key == dedupe))
    if exists is not None:
        return False
    manager_id = _manager_for(session, row)
    now = clock.now()
    esc = CaseEscalation(case_id=row.id, reason=reason, dedupe_key=dedupe, manager_id=manager_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(esc)
            session.flush()
    except IntegrityError:
        return False  # a concurrent scan escalated it first
    task = tasks.create_task(
        session, kind="review", title=f"Escalated case #{row.id} ({reason.replace('_', ' ')}): {row.subject}"[:300],
        customer_id=row.customer_id, assignee_id=manager_id, due_at=now, actor=actor, source_type="case",
        source_id=str(row.id), dedupe_key=f"case-{row.id}-escalation-{dedupe}",
        note=f"Severity {row.severity}; assignee {row.assignee_id or 'none'}; state {row.state}.")
    esc.task_id = task.id
    row.escalation_level += 1
    row.escalated_to_id = manager_id
    _touch(row)
    _event(session, row, "escalated", actor, data={"reason": reason, "manager_id": manager_id, "task_id": task.id,
                                                   "level": row.escalation_level})
    session.flush()
    audit.record(session, actor=actor, action="case.escalate", target_type="case", target_id=row.id,
                 after={"reason": reason, "manager_id": manager_id, "task_id": task.id,
                        "level": row.escalation_level})
    return True


def escalate(session: Session, *, case_id: int, actor: Actor, reason: str = "manual") -> CaseRead:
    """Escalate by hand (a serious problem goes to a manager)."""
    row = _case_row(session, case_id, lock=True)
    if row.state not in OPEN_STATES:
        raise InvalidState(f"case_id: case {case_id} is {row.state}; only an open case is escalated",
                           field="case_id", details={"state": row.state})
    if not _escalate(session, row, reason=reason, actor=actor):
        raise Conflict(f"case_id: case {case_id} was already escalated for {reason}", field="case_id")
    return _read(row)


def scan_breaches(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> BreachScanResult:
    """Job: mark first-response and resolution breaches of open cases and escalate each once.
    Re-runnable: a marked breach is not counted or escalated again."""
    now = clock.now() if as_of is None else clock.ensure_utc(as_of)
    first = resolution = escalations = 0
    due_first = list(session.scalars(
        select(Case).where(Case.state == "new", Case.first_response_breached_at.is_(None),
                           Case.first_response_due_at <= now).order_by(Case.id)))
    for row in due_first:
        row.first_response_breached_at = row.first_response_due_at
        first += 1
        escalations += _escalate(session, row, reason="first_response_breach", actor=actor)
    due_resolution = list(session.scalars(
        select(Case).where(Case.state.in_(OPEN_STATES), Case.resolution_breached_at.is_(None),
                           Case.resolution_due_at.is_not(None), Case.resolution_due_at <= now).order_by(Case.id)))
    for row in due_resolution:
        row.resolution_breached_at = row.resolution_due_at
        resolution += 1
        escalations += _escalate(session, row, reason="resolution_breach", actor=actor)
    session.flush()
    if first or resolution:
        audit.record(session, actor=actor, action="case.breach_scan", target_type="case", target_id=None,
                     after={"as_of": now, "first_response": first, "resolution": resolution,
                            "escalations": escalations})
    return BreachScanResult(as_of=now, first_response_breaches=first, resolution_breaches=resolution,
                            escalations=escalations)


# ---------------------------------------------------------------------------------------------
# Staff flags and recognition
# ---------------------------------------------------------------------------------------------


def _flag_row(session: Session, flag_id: int, *, lock: bool = False) -> StaffFlag:
    if not 0 < flag_id <= MAX_ID:
        raise NotFound(f"flag {flag_id} not found", field="flag_id")
    row = session.get(StaffFlag, flag_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise NotFound(f"flag {flag_id} not found", field="flag_id")
    return row


def flag_customer(session: Session, *, customer_id: int, reason_code: str, actor: Actor, note: str | None = None,
                  staff_id: int | None = None) -> FlagRead:
    """A staff member flags an unhappy customer. `staff_id` defaults to the staff user behind the
    actor; the same person cannot hold two open flags with the same reason on one customer."""
    if reason_code not in FLAG_REASONS:
        raise ValidationFailed(f"reason_code: must be one of {list(FLAG_REASONS)}", field="reason_code")
    body = _text(note, "note", 5000, required=False)
    who = staff_id if staff_id is not None else tasks.staff_id_of(session, actor)
    if who is None:
        raise ValidationFailed("staff_id: say which staff member noticed (no staff user behind this key)",
                               field="staff_id")
    _check_staff(session, who, "staff_id")
    _customer(session, customer_id)
    duplicate = session.scalar(select(StaffFlag.id).where(
        StaffFlag.customer_id == customer_id, StaffFlag.staff_id == who, StaffFlag.reason_code == reason_code,
        StaffFlag.status == "open"))
    if duplicate is not None:
        raise Conflict(f"reason_code: flag {duplicate} with this reason is already open", field="reason_code")
    now = clock.now()
    row = StaffFlag(customer_id=customer_id, staff_id=who, reason_code=reason_code, note=body, status="open",
                    created_by=actor.label, created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="flag.create", target_type="staff_flag", target_id=row.id,
                 after={"customer_id": customer_id, "staff_id": who, "reason_code": reason_code})
    interactions.record(session, customer_id=customer_id, kind="staff_flag", channel="system", direction="internal",
                        summary=f"Flagged as unhappy ({reason_code.replace('_', ' ')})", actor=actor, staff_id=who,
                        source_type="staff_flag", source_id=str(row.id), occurred_at=now,
                        data={"flag_id": row.id, "reason_code": reason_code, "status": "open"})
    return FlagRead.model_validate(row)


def _decide(session: Session, *, flag_id: int, status: str, note: str | None, actor: Actor) -> StaffFlag:
    body = _text(note, "note", 2000, required=False)
    row = _flag_row(session, flag_id, lock=True)
    if row.status != "open":
        raise InvalidState(f"flag_id: flag {flag_id} is already {row.status}", field="flag_id",
                           details={"status": row.status})
    if tasks.staff_id_of(session, actor) == row.staff_id:
        raise PermissionDenied("flag_id: a flag is decided by another manager than the one who raised it",
                               field="flag_id")
    now = clock.now()
    row.status, row.decided_by, row.decided_at, row.decision_note = status, actor.label, now, body
    session.flush()
    audit.record(session, actor=actor, action=f"flag.{'confirm' if status == 'confirmed' else 'dismiss'}",
                 target_type="staff_flag", target_id=row.id, before={"status": "open"}, after={"status": status})
    interactions.record(session, customer_id=row.customer_id, kind="staff_flag", channel="system",
                        direction="internal", summary=f"Unhappy-customer flag {status}", actor=actor,
                        source_type="staff_flag", source_id=str(row.id), occurred_at=now,
                        data={"flag_id": row.id, "reason_code": row.reason_code, "status": status})
    return row


def _period_of(instant: datetime) -> str:
    return instant.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m")


def confirm_flag(session: Session, *, flag_id: int, actor: Actor, note: str | None = None) -> FlagRead:
    """A manager confirms the flag; the staff member who raised it earns recognition points."""
    row = _decide(session, flag_id=flag_id, status="confirmed", note=note, actor=actor)
    now = clock.now()
    session.add(StaffRecognition(staff_id=row.staff_id, flag_id=row.id, points=RECOGNITION_POINTS,
                                 period=_period_of(now), awarded_at=now))
    session.flush()
    return FlagRead.model_validate(row)


def dismiss_flag(session: Session, *, flag_id: int, actor: Actor, note: str | None = None) -> FlagRead:
    return FlagRead.model_validate(_decide(session, flag_id=flag_id, status="dismissed", note=note, actor=actor))


def get_flag(session: Session, flag_id: int) -> FlagRead:
    return FlagRead.model_validate(_flag_row(session, flag_id))


def list_flags(session: Session, *, status: str | None = None, customer_id: int | None = None,
               staff_id: int | None = None, limit: int = 50, offset: int = 0) -> FlagPage:
    """`status="open"` is the manager's queue (oldest first)."""
    _id(customer_id, "customer_id")
    _id(staff_id, "staff_id")
    if status is not None and status not in ("open", "confirmed", "dismissed"):
        raise ValidationFailed("status: must be open, confirmed or dismissed", field="status")
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit: must be between 1 and 500", field="limit")
    if offset < 0:
        raise ValidationFailed("offset: must be >= 0", field="offset")
    rows, total = queries.list_flags(session, status=status, customer_id=customer_id, staff_id=staff_id,
                                     limit=limit, offset=offset)
    return FlagPage(items=[FlagRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


def leaderboard(session: Session, *, period: str | None = None, limit: int = 20) -> list[LeaderboardRow]:
    """Staff ranked by recognition points in a month (`YYYY-MM`, business timezone; default now)."""
    period = period or _period_of(clock.now())
    try:
        datetime.strptime(period, "%Y-%m")
    except ValueError as exc:
        raise ValidationFailed("period: expected YYYY-MM", field="period") from exc
    rows = session.execute(
        select(StaffRecognition.staff_id, func.sum(StaffRecognition.points), func.count())
        .where(StaffRecognition.period == period).group_by(StaffRecognition.staff_id)
    ).all()
    names = {s.id: s.name for s in staff.list_staff(session)}
    board = [LeaderboardRow(staff_id=sid, name=names.get(sid, "?"), points=int(points), confirmed_flags=int(n))
             for sid, points, n in rows]
    board.sort(key=lambda r: (-r.points, r.name, r.staff_id))
    return board[:limit]


def open_flags_count(session: Session, customer_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(StaffFlag)
                              .where(StaffFlag.customer_id == customer_id, StaffFlag.status == "open")) or 0)


def customer_summary(session: Session, customer_id: int) -> CustomerFlagSummary:
    """Signals for churn risk and segments: flags by status, open/breached cases, last CSAT."""
    counts = dict(session.execute(select(StaffFlag.status, func.count()).where(StaffFlag.customer_id == customer_id)
                                  .group_by(StaffFlag.status)).all())
    last_flag = session.scalar(select(func.max(StaffFlag.created_at)).where(StaffFlag.customer_id == customer_id))
    open_q = select(func.count()).select_from(Case).where(Case.customer_id == customer_id,
                                                          Case.state.in_(OPEN_STATES))
    open_cases = session.scalar(open_q) or 0
    breached = session.scalar(open_q.where(queries.breached_clause(clock.now()))) or 0
    last_csat = session.scalar(select(Case.csat).where(Case.customer_id == customer_id, Case.csat.is_not(None))
                               .order_by(Case.followed_up_at.desc(), Case.id.desc()).limit(1))
    return CustomerFlagSummary(customer_id=customer_id, open_flags=int(counts.get("open", 0)),
                               confirmed_flags=int(counts.get("confirmed", 0)),
                               dismissed_flags=int(counts.get("dismissed", 0)), last_flag_at=last_flag,
                               open_cases=int(open_cases), breached_open_cases=int(breached), last_csat=last_csat)


# ---------------------------------------------------------------------------------------------
# Customer hooks (merge, GDPR export, erasure, 360 view)
# ---------------------------------------------------------------------------------------------


def _expire_loaded(session: Session, *models: type) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, models):
            session.expire(obj)


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Cases and flags follow the customer."""
    for model in (Case, StaffFlag):
        session.execute(update(model).where(model.customer_id == duplicate_id)
                        .values(customer_id=survivor_id).execution_options(synchronize_session=False))
    _expire_loaded(session, Case, StaffFlag)


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Blank every free text about the customer; states, timestamps and amounts stay (they are
    needed for SLA statistics and the ledger trail, and identify no one once the profile is gone)."""
    case_ids = select(Case.id).where(Case.customer_id == customer_id)
    session.execute(update(Case).where(Case.customer_id == customer_id).values(
        subject=ERASED, description=ERASED, ack_text=None, resolution=None, csat_comment=None,
    ).execution_options(synchronize_session=False))
    session.execute(update(CaseEvent).where(CaseEvent.case_id.in_(case_ids), CaseEvent.note.is_not(None))
                    .values(note=ERASED).execution_options(synchronize_session=False))
    session.execute(update(CaseAction).where(CaseAction.case_id.in_(case_ids))
                    .values(description=ERASED).execution_options(synchronize_session=False))
    session.execute(update(StaffFlag).where(StaffFlag.customer_id == customer_id)
                    .values(note=None, decision_note=None).execution_options(synchronize_session=False))
    _expire_loaded(session, Case, CaseEvent, CaseAction, StaffFlag)


def _export_section(session: Session, customer_id: int) -> dict[str, Any]:
    rows = list(session.scalars(select(Case).where(Case.customer_id == customer_id).order_by(Case.id)))
    cases = []
    for row in rows:
        item = _read(row).model_dump(mode="json")
        item["events"] = [e.model_dump(mode="json") for e in list_events(session, row.id)]
        item["actions"] = [a.model_dump(mode="json") for a in list_actions(session, row.id)]
        cases.append(item)
    flags = [FlagRead.model_validate(f).model_dump(mode="json") for f in
             session.scalars(select(StaffFlag).where(StaffFlag.customer_id == customer_id).order_by(StaffFlag.id))]
    return {"cases": cases, "staff_flags": flags}


def _view_section(session: Session, customer_id: int) -> dict[str, Any]:
    summary = customer_summary(session, customer_id).model_dump(mode="json")
    open_rows = session.scalars(select(Case).where(Case.customer_id == customer_id, Case.state.in_(OPEN_STATES))
                                .order_by(Case.id.desc()).limit(10))
    summary["open"] = [{"id": r.id, "subject": r.subject, "state": r.state, "severity": r.severity}
                       for r in open_rows]
    return summary


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("cases", _export_section)
    hooks.register_view_section("cases", _view_section)
    feedback_hooks.register_needs_answer(open_case_for_feedback)


_register_hooks()

__all__ = [
    "create_case", "open_case", "open_case_for_feedback", "get_case", "list_customer_cases", "sla_summary",
    "get_customer_case", "list_cases", "list_cases_for_customer",
    "list_events", "list_actions", "list_escalations", "transition", "acknowledge", "add_action", "compensate",
    "resolve", "record_follow_up", "assign", "link_customer", "comment", "customer_reply", "escalate", "scan_breaches",
    "flag_customer", "confirm_flag", "dismiss_flag", "get_flag", "list_flags", "leaderboard", "open_flags_count",
    "customer_summary", "calendar", "get_calendar", "set_business_hours", "add_holiday", "remove_holiday",
    "list_sla_policies", "get_sla_policy", "set_sla_policy", "reset_sla_policy", "list_categories",
    "upsert_category", "list_routing_rules", "set_routing_rule", "delete_routing_rule",
]

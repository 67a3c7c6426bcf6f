"""Automations: trigger -> optional conditions -> actions (some delayed), run once per customer
and trigger instance.

Why it is built this way:
- Once and only once: a run is a row with UNIQUE(automation_id, customer_id, instance_key), the
  instance naming what fired it (birthday-2027, interaction-991, see `triggers`). The run is
  inserted in a savepoint before any action; a second pass (the job re-run, two workers) hits
  the constraint and does nothing. Each action is additionally idempotent on a key derived from
  the run's identity (ledger idempotency key, message/task dedupe key, offer issue key).
- Actions are rows: immediate ones execute in the same transaction; delayed ones wait as
  `pending` with `due_at` and the `automation.delayed_actions` job claims them with a guarded
  UPDATE (SKIP LOCKED on PostgreSQL), so a delayed action never runs early or twice. A failing
  action (e.g. a voucher offer sold out) is recorded as `failed` with its message inside its own
  savepoint; the other actions and the run survive.
- Date triggers are evaluated set-based per timezone (see `queries`, `calendar`): the job runs
  hourly so each customer's local day is seen soon after it starts, and a catch-up window (default
  two days) covers worker downtime without double firing (the instance key is per day/year).
- Event triggers read the customer timeline through a per-automation high-water mark (the id
  of the last interaction scanned). A new automation starts at the current end of the timeline,
  so creating one never fires on years of history. Known limit: a timeline row committed later
  than a row with a higher id (long PostgreSQL transactions) can be passed over.
- Rate guard: `max_runs_per_day` caps runs started per UTC day; what is left over waits (date
  triggers within their catch-up window, event triggers by not advancing the mark).
- Dry-run evaluates exactly the same selection and conditions and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.automation import actions as action_runner
from loyalist.automation import queries, triggers
from loyalist.automation.models import Automation, AutomationAction, AutomationRun, Holiday
from loyalist.automation.schemas import (
    DATE_TRIGGERS,
    EVENT_TRIGGERS,
    ActionRunRead,
    ActionSpec,
    AutomationCreate,
    AutomationRead,
    AutomationUpdate,
    Candidate,
    ConditionSpec,
    DryRunResult,
    EvaluationResult,
    HolidayCreate,
    HolidayRead,
    RunPage,
    RunRead,
    TriggerSpec,
)
from loyalist.config import get_settings
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.errors import Conflict, DomainError, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.offers import service as offers
from loyalist.segments import service as segments
from loyalist.staff import service as staff_service
from loyalist.types import MAX_ROW_ID, Actor

AUTOMATION_ACTOR = Actor(kind="system", id=None, name="automation", role="admin")
MAX_ID = MAX_ROW_ID
DUE_BATCH = 500


# --------------------------------------------------------------------------- validation

def _check_trigger(spec: TriggerSpec) -> None:
    needs = {"inactivity": "days", "points_expiring": "days", "holiday": "holiday", "churn_risk": "threshold"}
    name = needs.get(spec.type)
    if name is not None and getattr(spec, name) is None:
        raise ValidationFailed(f"trigger.{name}: required for a {spec.type} trigger", field=f"trigger.{name}")
    if spec.type == "inactivity" and spec.max_days is not None and spec.max_days <= (spec.days or 0):
        raise ValidationFailed("trigger.max_days: must be greater than days", field="trigger.max_days")


def _check_conditions(session: Session, spec: ConditionSpec | None) -> None:
    if spec is None:
        return
    if (spec.segment_id is None) == (spec.rule is None):
        raise ValidationFailed("conditions: give exactly one of segment_id and rule", field="conditions.segment_id")
    if spec.segment_id is not None:
        if not 0 < spec.segment_id <= MAX_ID:
            raise ValidationFailed(f"conditions.segment_id: segment {spec.segment_id} not found",
                                   field="conditions.segment_id")
        try:
            segments.get_segment(session, spec.segment_id)
        except NotFound as exc:
            raise ValidationFailed(f"conditions.segment_id: segment {spec.segment_id} not found",
                                   field="conditions.segment_id") from exc
    else:
        try:
            segments.validate_rule(spec.rule)
        except ValidationFailed as exc:
            raise ValidationFailed(f"conditions.{exc.message}", field=f"conditions.{exc.field or 'rule'}") from exc


def _check_staff(session: Session, staff_id: int, field: str, *, manager: bool = False) -> None:
    try:
        person = staff_service.get_staff(session, staff_id) if 0 < staff_id <= MAX_ID else None
    except NotFound:
        person = None
    if person is None or not person.active:
        raise ValidationFailed(f"{field}: no active staff user {staff_id}", field=field)
    if manager and person.role.value not in ("manager", "admin"):
        raise ValidationFailed(f"{field}: staff user {staff_id} is not a manager", field=field)


def _check_actions(session: Session, specs: list[ActionSpec]) -> None:
    for i, a in enumerate(specs):
        where = f"actions.{i}"
        if a.type == "send_message":
            if (a.channel or "email") not in ("email", "sms"):
                raise ValidationFailed(f"{where}.channel: email or sms", field=f"{where}.channel")
            if not a.template and not a.text:
                raise ValidationFailed(f"{where}.template: a template or a text is required", field=f"{where}.template")
            if (a.channel or "email") == "email" and not a.template and not a.subject:
                raise ValidationFailed(f"{where}.subject: an email without a template needs a subject",
                                       field=f"{where}.subject")
        elif a.type == "grant_points" and a.points is None:
            raise ValidationFailed(f"{where}.points: required", field=f"{where}.points")
        elif a.type == "issue_voucher":
            if a.offer_id is None:
                raise ValidationFailed(f"{where}.offer_id: required", field=f"{where}.offer_id")
            try:
                if not 0 < a.offer_id <= MAX_ID:
                    raise NotFound(f"offer {a.offer_id} not found")
                offers.get_offer(session, a.offer_id)
            except NotFound as exc:
                raise ValidationFailed(f"{where}.offer_id: offer {a.offer_id} not found",
                                       field=f"{where}.offer_id") from exc
        elif a.type in ("add_tag", "remove_tag"):
            try:
                customers.normalise_tag(a.tag or "")
            except ValidationFailed as exc:
                raise ValidationFailed(f"{where}.{exc.message}", field=f"{where}.tag") from exc
        elif a.type == "create_task" and a.assignee_id is not None:
            _check_staff(session, a.assignee_id, f"{where}.assignee_id")
        elif a.type == "notify_manager":
            if a.webhook_event is None and a.assignee_id is None:
                raise ValidationFailed(f"{where}.assignee_id: a manager to notify, or a webhook_event",
                                       field=f"{where}.assignee_id")
            if a.assignee_id is not None and a.webhook_event is None:
                _check_staff(session, a.assignee_id, f"{where}.assignee_id", manager=True)


# --------------------------------------------------------------------------- CRUD

def _read(row: Automation) -> AutomationRead:
    return AutomationRead(
        id=row.id, name=row.name, description=row.description, trigger=TriggerSpec.model_validate(row.trigger),
        conditions=None if row.conditions is None else ConditionSpec.model_validate(row.conditions),
        actions=[ActionSpec.model_validate(a) for a in row.actions], enabled=row.enabled,
        max_runs_per_day=row.max_runs_per_day, cursor_interaction_id=row.cursor_interaction_id,
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at)


def _snapshot(row: Automation) -> dict[str, Any]:
    return {"name": row.name, "trigger": row.trigger, "conditions": row.conditions, "actions": row.actions,
            "enabled": row.enabled, "max_runs_per_day": row.max_runs_per_day}


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None


def _name_taken(session: Session, name: str, exclude: int | None = None) -> bool:
    query = select(Automation.id).where(func.lower(Automation.name) == name.lower())
    if exclude is not None:
        query = query.where(Automation.id != exclude)
    return session.scalar(query) is not None


def create_automation(session: Session, *, data: AutomationCreate, actor: Actor) -> AutomationRead:
    name = data.name.strip()
    if not name:
        raise ValidationFailed("name: must not be empty", field="name")
    if _name_taken(session, name):
        raise Conflict(f"name: an automation called {name!r} exists", field="name")
    _check_trigger(data.trigger)
    _check_conditions(session, data.conditions)
    _check_actions(session, data.actions)
    now = clock.now()
    row = Automation(name=name, description=data.description, trigger_type=data.trigger.type,
                     trigger=_dump(data.trigger), conditions=_dump(data.conditions),
                     actions=[_dump(a) for a in data.actions], enabled=data.enabled,
                     max_runs_per_day=data.max_runs_per_day,
                     created_by=actor.label, created_at=now, updated_at=now)
    _reset_marks(row, queries.max_interaction_id(session), now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="automation.create", target_type="automation", target_id=row.id,
                 after=_snapshot(row))
    return _read(row)


def _row(session: Session, automation_id: int) -> Automation:
    row = session.get(Automation, automation_id) if 0 < automation_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"automation {automation_id} not found", field="automation_id")
    return row


def get_automation(session: Session, automation_id: int) -> AutomationRead:
    return _read(_row(session, automation_id))


def list_automations(session: Session, *, enabled: bool | None = None) -> list[AutomationRead]:
    query = select(Automation).order_by(Automation.id)
    if enabled is not None:
        query = query.where(Automation.enabled.is_(enabled))
    return [_read(r) for r in session.scalars(query)]


def update_automation(session: Session, *, automation_id: int, data: AutomationUpdate,
                      actor: Actor) -> AutomationRead:
    """Partial update. Changing the trigger type of an event automation restarts its timeline
    scan at the current end (it must not fire on the past)."""
    row = _row(session, automation_id)
    changes = data.model_fields_set
    before = _snapshot(row)
    for name in ("name", "trigger", "actions", "enabled"):
        if name in changes and getattr(data, name) is None:
            raise ValidationFailed(f"{name}: may not be null", field=name)
    if data.name is not None:
        name = data.name.strip()
        if _name_taken(session, name, exclude=row.id):
            raise Conflict(f"name: an automation called {name!r} exists", field="name")
    if data.trigger is not None:
        _check_trigger(data.trigger)
    if "conditions" in changes:
        _check_conditions(session, data.conditions)
    if data.actions is not None:
        _check_actions(session, data.actions)
    if data.name is not None:
        row.name = data.name.strip()
    if "description" in changes:
        row.description = data.description
    if data.trigger is not None:
        if data.trigger.type != row.trigger_type:
            _reset_marks(row, queries.max_interaction_id(session), clock.now())
        row.trigger_type = data.trigger.type
        row.trigger = _dump(data.trigger)
    if "conditions" in changes:
        row.conditions = _dump(data.conditions)
    if data.actions is not None:
        row.actions = [_dump(a) for a in data.actions]
    if data.enabled is not None:
        row.enabled = data.enabled
    if "max_runs_per_day" in changes:
        row.max_runs_per_day = data.max_runs_per_day
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="automation.update", target_type="automation", target_id=row.id,
                 before=before, after=_snapshot(row))
    return _read(row)


def set_enabled(session: Session, *, automation_id: int, enabled: bool, actor: Actor) -> AutomationRead:
    return update_automation(session, automation_id=automation_id, data=AutomationUpdate(enabled=enabled),
                             actor=actor)


# --------------------------------------------------------------------------- selection

def _instant(value: datetime | None) -> datetime:
    if value is None:
        return clock.now()
    try:
        return clock.ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed("as_of: must include a timezone", field="as_of") from exc


def _business_tz() -> str:
    return get_settings().timezone


def _select_conditions(session: Session, conditions: ConditionSpec | None, ids: list[int],
                       as_of: datetime) -> set[int]:
    """The candidates that meet the conditions (all of them when there are none)."""
    if conditions is None or not ids:
        return set(ids)
    if len(ids) <= 20:
        return {cid for cid in ids if segments.matches(session, customer_id=cid, segment_id=conditions.segment_id,
                                                       rule=conditions.rule, as_of=as_of)}
    members = set(segments.member_ids(session, segment_id=conditions.segment_id, rule=conditions.rule, as_of=as_of))
    return members.intersection(ids)


def _fresh(session: Session, automation_id: int | None, candidates: list[Candidate]) -> tuple[list[Candidate], int]:
    """Drop candidates that already ran (and duplicates within the batch)."""
    done = (queries.existing_runs(session, automation_id, {c.instance_key for c in candidates})
            if automation_id is not None and candidates else set())
    seen: set[tuple[int, str]] = set()
    out = []
    for c in candidates:
        ident = (c.customer_id, c.instance_key)
        if ident in done or ident in seen:
            continue
        seen.add(ident)
        out.append(c)
    return out, len(candidates) - len(out)


def _day_start(as_of: datetime) -> datetime:
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)


# --------------------------------------------------------------------------- running

def _settle_run(session: Session, run: AutomationRun, now: datetime, statuses: list[str] | None = None) -> None:
    """Derive the run's status from its actions (`statuses` when the caller holds them all)."""
    if statuses is None:
        statuses = list(session.scalars(select(AutomationAction.status).where(AutomationAction.run_id == run.id)))
    if "pending" in statuses:
        run.status, run.finished_at = "scheduled", None
    elif statuses and all(s == "failed" for s in statuses):
        run.status, run.finished_at = "failed", now
    elif "failed" in statuses:
        run.status, run.finished_at = "partial", now
    else:
        run.status, run.finished_at = "done", now
    session.flush()


def _execute(session: Session, action: AutomationAction, auto: Automation, run: AutomationRun, now: datetime,
             actor: Actor, result: EvaluationResult, *, fresh: bool = False) -> None:
    """Run one action in its own savepoint. `fresh`: the run started in this transaction from a
    selection of active customers, so the customer need not be re-checked."""
    spec = ActionSpec.model_validate(auto.actions[action.position]) if action.position < len(auto.actions) else None
    if spec is None or spec.type != action.type:
        action.status, action.error = "skipped", "the automation's actions changed since the run started"
    elif not fresh and not queries.customer_active(session, run.customer_id):
        action.status, action.error = "skipped", "customer is no longer active"
    else:
        try:
            with session.begin_nested():
                action.result = action_runner.execute(
                    session, spec=spec, automation_id=auto.id, automation_name=auto.name, run_id=run.id,
                    customer_id=run.customer_id, instance_key=run.instance_key, position=action.position,
                    trigger_data=run.trigger_data or {}, now=now, actor=actor)
            action.status = "done"
            result.actions_done += 1
        except DomainError as exc:
            action.status, action.error = "failed", exc.message[:2000]
            result.actions_failed += 1
    action.executed_at = now
    session.flush()


def _fire(session: Session, auto: Automation, candidate: Candidate, now: datetime, actor: Actor,
          result: EvaluationResult) -> bool:
    """Start one run; False when this instance already ran (nothing written)."""
    run = AutomationRun(automation_id=auto.id, customer_id=candidate.customer_id,
                        instance_key=candidate.instance_key, trigger_data=candidate.data, status="scheduled",
                        created_at=now)
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        result.already_ran += 1
        return False
    result.runs_started += 1
    rows = []
    for position, raw in enumerate(auto.actions):
        spec = ActionSpec.model_validate(raw)
        row = AutomationAction(run_id=run.id, position=position, type=spec.type,
                               due_at=now + timedelta(hours=spec.delay_hours), status="pending")
        session.add(row)
        rows.append(row)
    session.flush()
    interactions.record(
        session, customer_id=run.customer_id, kind="automation", channel="system", direction="internal",
        summary=f"Automation \u201c{auto.name}\u201d started ({candidate.instance_key})", actor=actor,
        source_type="automation_run", source_id=str(run.id),
        data={"automation_id": auto.id, "run_id": run.id, "trigger_type": auto.trigger_type,
              "instance_key": candidate.instance_key, "actions": [r.type for r in rows]})
    for row in rows:
        if row.due_at <= now:
            _execute(session, row, auto, run, now, actor, result, fresh=True)
        else:
            result.actions_scheduled += 1
    _settle_run(session, run, now, [r.status for r in rows])
    return True


def _allowance(session: Session, auto: Automation, now: datetime) -> int | None:
    if auto.max_runs_per_day is None:
        return None
    return max(0, auto.max_runs_per_day - queries.runs_since(session, auto.id, _day_start(now)))


def _run_candidates(session: Session, auto: Automation, candidates: list[Candidate], now: datetime,
                    actor: Actor, result: EvaluationResult) -> None:
    fresh, already = _fresh(session, auto.id, candidates)
    result.already_ran += already
    conditions = None if auto.conditions is None else ConditionSpec.model_validate(auto.conditions)
    allowed = _select_conditions(session, conditions, sorted({c.customer_id for c in fresh}), now)
    left = _allowance(session, auto, now)
    for c in fresh:
        if c.customer_id not in allowed:
            result.excluded_by_conditions += 1
            continue
        if left is not None and left <= 0:
            result.rate_limited += 1
            continue
        if _fire(session, auto, c, now, actor, result) and left is not None:
            left -= 1


def evaluate_date_trigger(session: Session, *, automation_id: int, as_of: datetime | None = None,
                          actor: Actor = AUTOMATION_ACTOR) -> EvaluationResult:
    """Fire a date-triggered automation for every customer due now (idempotent)."""
    auto = _row(session, automation_id)
    if auto.trigger_type not in DATE_TRIGGERS:
        raise ValidationFailed(f"automation_id: {auto.trigger_type} is an event trigger", field="automation_id")
    now = _instant(as_of)
    result = EvaluationResult()
    spec = TriggerSpec.model_validate(auto.trigger)
    _run_candidates(session, auto, triggers.date_candidates(session, spec, now, _business_tz()), now, actor, result)
    return result


def _reset_marks(row: Automation, mark: int, now: datetime) -> None:
    """Start the timeline scan at `mark`: nothing before it is this automation's business."""
    row.cursor_interaction_id = mark
    row.settled_interaction_id = mark
    row.settle_candidate_id = mark
    row.settle_candidate_at = now


def _fire_in_order(session: Session, auto: Automation, rows: list[tuple[int, Candidate | None]],
                   conditions: ConditionSpec | None, now: datetime, actor: Actor,
                   result: EvaluationResult) -> int | None:
    """Start runs for the matching timeline rows in id order, within the daily allowance and the
    conditions; the id of the row the allowance stopped at, or None when it did not."""
    left = _allowance(session, auto, now)
    for interaction_id, candidate in rows:
        if candidate is None:
            continue
        if left is not None and left <= 0:
            result.rate_limited += 1
            return interaction_id
        if conditions is not None and not _select_conditions(session, conditions, [candidate.customer_id], now):
            result.excluded_by_conditions += 1
            continue
        if _fire(session, auto, candidate, now, actor, result) and left is not None:
            left -= 1
    return None


def _sweep_late_commits(session: Session, auto: Automation, spec: TriggerSpec, conditions: ConditionSpec | None,
                        now: datetime, actor: Actor, result: EvaluationResult, batch: int) -> None:
    """Fire for rows the mark passed before they were visible (committed late), then move the
    settled mark: a row older than the settle window is assumed committed or never to come."""
    after = auto.settled_interaction_id
    while after < auto.cursor_interaction_id:
        rows, high = triggers.event_candidates(session, spec, after_id=after, limit=batch,
                                               until_id=auto.cursor_interaction_id)
        done = queries.existing_runs(session, auto.id, {c.instance_key for _, c in rows if c is not None})
        unseen = [(iid, c) for iid, c in rows if c is not None and (c.customer_id, c.instance_key) not in done]
        started = result.runs_started
        _fire_in_order(session, auto, unseen, conditions, now, actor, result)
        result.late_commits_found += result.runs_started - started
        if len(rows) < batch:
            break
        after = high
    candidate_at = auto.settle_candidate_at
    if candidate_at is None or candidate_at <= now - triggers.SETTLE_WINDOW:
        auto.settled_interaction_id = max(auto.settled_interaction_id, auto.settle_candidate_id)
        auto.settle_candidate_id = auto.cursor_interaction_id
        auto.settle_candidate_at = now


def scan_events(session: Session, *, automation_id: int, as_of: datetime | None = None,
                actor: Actor = AUTOMATION_ACTOR, batch: int = triggers.SCAN_BATCH) -> EvaluationResult:
    """Fire an event-triggered automation for timeline rows past its high-water mark."""
    auto = _row(session, automation_id)
    if auto.trigger_type not in EVENT_TRIGGERS:
        raise ValidationFailed(f"automation_id: {auto.trigger_type} is a date trigger", field="automation_id")
    now = _instant(as_of)
    spec = TriggerSpec.model_validate(auto.trigger)
    conditions = None if auto.conditions is None else ConditionSpec.model_validate(auto.conditions)
    result = EvaluationResult()
    _sweep_late_commits(session, auto, spec, conditions, now, actor, result, batch)
    while True:
        end = queries.max_interaction_id(session)
        rows, high = triggers.event_candidates(session, spec, after_id=auto.cursor_interaction_id, limit=batch)
        mark = max(high, end) if len(rows) < batch else high
        limited_at = _fire_in_order(session, auto, rows, conditions, now, actor, result)
        if limited_at is not None:
            mark = limited_at - 1  # resume here tomorrow
        auto.cursor_interaction_id = max(auto.cursor_interaction_id, mark)
        session.flush()
        if len(rows) < batch or result.rate_limited:
            return result


def run_due_actions(session: Session, *, as_of: datetime | None = None, actor: Actor = AUTOMATION_ACTOR,
                    limit: int = DUE_BATCH) -> EvaluationResult:
    """Execute delayed actions whose time has come (each exactly once: guarded claim)."""
    now = _instant(as_of)
    result = EvaluationResult()
    for action_id in queries.due_actions(session, as_of=now, limit=limit):
        claimed = cast("CursorResult[Any]", session.execute(
            update(AutomationAction).where(AutomationAction.id == action_id, AutomationAction.status == "pending")
            .values(status="running").execution_options(synchronize_session=False)))
        if claimed.rowcount != 1:
            continue
        action = session.get(AutomationAction, action_id)
        assert action is not None
        session.refresh(action)
        run = session.get(AutomationRun, action.run_id)
        assert run is not None
        auto = _row(session, run.automation_id)
        if not auto.enabled:
            action.status, action.error, action.executed_at = "skipped", "automation disabled", now
            session.flush()
        else:
            _execute(session, action, auto, run, now, actor, result)
        _settle_run(session, run, now)
    return result


def run_automation(session: Session, *, automation_id: int, actor: Actor,
                   as_of: datetime | None = None) -> EvaluationResult:
    """Evaluate one automation now (staff "run now"); same idempotency as the jobs."""
    auto = _row(session, automation_id)
    if not auto.enabled:
        raise ValidationFailed(f"automation_id: automation {automation_id} is disabled", field="automation_id")
    if auto.trigger_type in DATE_TRIGGERS:
        result = evaluate_date_trigger(session, automation_id=automation_id, as_of=as_of)
    else:
        result = scan_events(session, automation_id=automation_id, as_of=as_of)
    audit.record(session, actor=actor, action="automation.run", target_type="automation", target_id=automation_id,
                 after=result.model_dump())
    return result


def run_all(session: Session, *, kinds: frozenset[str], as_of: datetime | None = None,
            actor: Actor = AUTOMATION_ACTOR) -> EvaluationResult:
    total = EvaluationResult()
    for auto in queries.enabled_automations(session, kinds):
        one = (evaluate_date_trigger if auto.trigger_type in DATE_TRIGGERS else scan_events)(
            session, automation_id=auto.id, as_of=as_of, actor=actor)
        for name in type(total).model_fields:
            setattr(total, name, getattr(total, name) + getattr(one, name))
    return total


# --------------------------------------------------------------------------- dry run

def dry_run(session: Session, *, automation_id: int | None = None, data: AutomationCreate | None = None,
            as_of: datetime | None = None, limit: int = 100) -> DryRunResult:
    """Who would be affected if the automation ran now; writes nothing. Give a saved automation
    or an unsaved definition (an unsaved event trigger has no past to scan: it starts now)."""
    if (automation_id is None) == (data is None):
        raise ValidationFailed("give exactly one of automation_id and data", field="automation_id")
    if not 1 <= limit <= 10000:
        raise ValidationFailed("limit: between 1 and 10000", field="limit")
    now = _instant(as_of)
    if data is not None:
        _check_trigger(data.trigger)
        _check_conditions(session, data.conditions)
        spec, conditions, cursor, max_runs = data.trigger, data.conditions, None, data.max_runs_per_day
        auto_id = None
    else:
        auto = _row(session, cast(int, automation_id))
        spec = TriggerSpec.model_validate(auto.trigger)
        conditions = None if auto.conditions is None else ConditionSpec.model_validate(auto.conditions)
        cursor, max_runs, auto_id = auto.cursor_interaction_id, auto.max_runs_per_day, auto.id
    if spec.type in DATE_TRIGGERS:
        candidates = triggers.date_candidates(session, spec, now, _business_tz())
    elif cursor is None:
        candidates = []
    else:
        rows, _ = triggers.event_candidates(session, spec, after_id=cursor, limit=100_000)
        candidates = [c for _, c in rows if c is not None]
    fresh, already = _fresh(session, auto_id, candidates)
    allowed = _select_conditions(session, conditions, sorted({c.customer_id for c in fresh}), now)
    selected = [c for c in fresh if c.customer_id in allowed]
    if max_runs is not None and auto_id is not None:
        selected = selected[:max(0, max_runs - queries.runs_since(session, auto_id, _day_start(now)))]
    return DryRunResult(automation_id=auto_id, as_of=now, count=len(selected), customers=selected[:limit],
                        already_ran=already, excluded_by_conditions=len(fresh) - len([c for c in fresh
                                                                                       if c.customer_id in allowed]),
                        truncated=len(selected) > limit)


# --------------------------------------------------------------------------- history

def _run_reads(session: Session, rows: list[AutomationRun]) -> list[RunRead]:
    acts = queries.actions_of(session, [r.id for r in rows])
    return [RunRead(id=r.id, automation_id=r.automation_id, customer_id=r.customer_id, instance_key=r.instance_key,
                    trigger_data=r.trigger_data, status=r.status, created_at=r.created_at, finished_at=r.finished_at,
                    actions=[ActionRunRead.model_validate(a) for a in acts[r.id]]) for r in rows]


def list_runs(session: Session, *, automation_id: int | None = None, customer_id: int | None = None,
              status: str | None = None, limit: int = 50, offset: int = 0) -> RunPage:
    """Run history, newest first, each with the outcome of every action."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit: between 1 and 1000", field="limit")
    if not 0 <= offset <= 10**9:
        raise ValidationFailed("offset: between 0 and 1000000000", field="offset")
    query = select(AutomationRun)
    if automation_id is not None:
        _row(session, automation_id)
        query = query.where(AutomationRun.automation_id == automation_id)
    if customer_id is not None:
        query = query.where(AutomationRun.customer_id == customer_id)
    if status is not None:
        if status not in ("scheduled", "done", "partial", "failed"):
            raise ValidationFailed("status: scheduled, done, partial or failed", field="status")
        query = query.where(AutomationRun.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(AutomationRun.id.desc()).limit(limit).offset(offset)))
    return RunPage(items=_run_reads(session, rows), total=total, limit=limit, offset=offset)


# --------------------------------------------------------------------------- holiday calendar

def add_holiday(session: Session, *, data: HolidayCreate, actor: Actor) -> HolidayRead:
    if session.scalar(select(Holiday.id).where(Holiday.code == data.code, Holiday.day == data.day)) is not None:
        raise Conflict(f"day: {data.code} is already on {data.day.isoformat()}", field="day")
    row = Holiday(code=data.code, name=data.name.strip(), day=data.day)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="holiday.create", target_type="holiday", target_id=row.id,
                 after={"code": row.code, "name": row.name, "day": row.day})
    return HolidayRead.model_validate(row)


def list_holidays(session: Session, *, year: int | None = None) -> list[HolidayRead]:
    query = select(Holiday).order_by(Holiday.day, Holiday.code)
    if year is not None:
        query = query.where(Holiday.day >= datetime(year, 1, 1).date(), Holiday.day <= datetime(year, 12, 31).date())
    return [HolidayRead.model_validate(r) for r in session.scalars(query)]


def delete_holiday(session: Session, *, holiday_id: int, actor: Actor) -> None:
    row = session.get(Holiday, holiday_id) if 0 < holiday_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"holiday {holiday_id} not found", field="holiday_id")
    audit.record(session, actor=actor, action="holiday.delete", target_type="holiday", target_id=row.id,
                 before={"code": row.code, "name": row.name, "day": row.day})
    session.delete(row)
    session.flush()


# --------------------------------------------------------------------------- customer-wide hooks

def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Runs follow the customer unless the survivor already ran the same instance (then the
    duplicate's run stays as history on the merged record: nothing fires twice)."""
    other = aliased(AutomationRun)
    session.execute(
        update(AutomationRun).where(
            AutomationRun.customer_id == duplicate_id,
            ~exists().where(other.customer_id == survivor_id, other.automation_id == AutomationRun.automation_id,
                            other.instance_key == AutomationRun.instance_key))
        .values(customer_id=survivor_id).execution_options(synchronize_session=False))
    _expire(session)


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Trigger facts (a birthday date...) go; pending delayed actions will never run."""
    run_ids = select(AutomationRun.id).where(AutomationRun.customer_id == customer_id).scalar_subquery()
    session.execute(update(AutomationAction).where(AutomationAction.run_id.in_(run_ids),
                                                   AutomationAction.status == "pending")
                    .values(status="skipped", error="customer erased", executed_at=clock.now())
                    .execution_options(synchronize_session=False))
    session.execute(update(AutomationRun).where(AutomationRun.customer_id == customer_id)
                    .values(trigger_data=None).execution_options(synchronize_session=False))
    session.execute(update(AutomationRun).where(AutomationRun.customer_id == customer_id,
                                                AutomationRun.status == "scheduled")
                    .values(status="done", finished_at=clock.now()).execution_options(synchronize_session=False))
    _expire(session)


def _expire(session: Session) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (AutomationRun, AutomationAction)):
            session.expire(obj)


def _export_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = list(session.scalars(select(AutomationRun).where(AutomationRun.customer_id == customer_id)
                                .order_by(AutomationRun.id)))
    return [r.model_dump(mode="json") for r in _run_reads(session, rows)]


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("automation_runs", _export_section)


_register_hooks()

__all__ = ["AUTOMATION_ACTOR", "create_automation", "get_automation", "list_automations", "update_automation",
           "set_enabled", "evaluate_date_trigger", "scan_events", "run_due_actions", "run_automation", "run_all",
           "dry_run", "list_runs", "add_holiday", "list_holidays", "delete_holiday"]

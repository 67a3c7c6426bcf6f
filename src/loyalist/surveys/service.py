"""Surveys: definitions, answering (personal link, anonymous link, portal, staff), invitations
with reminders and a fatigue cap, and the hooks that keep merge/export/erasure complete.

Why it is built this way:
- A survey is frozen once answered: its questions cannot change (results would mix answers to
  different questions). `new_version` copies it to a new survey with `version + 1`.
- Personal links are `loyalist.signing` tokens of purpose "survey" carrying the invitation id;
  the invitation row stores the token's `jti`. Single use is a guarded
  ``UPDATE survey_invitations SET status='answered' WHERE id=:id AND status='sent'`` plus a
  UNIQUE(invitation_id) on responses, so two racing submits cannot both land. All answer
  validation happens before anything is written, so a refused submit changes nothing.
- The fatigue cap counts invitations sent (any survey) AND answers given (e.g. from the portal)
  within the last N days. Refused invitations are kept as 'skipped' with their reason, so staff
  can see why someone was not asked.
- Completion earns points through the events domain (event type ``survey_completed``) with the
  idempotency key ``survey-invitation:<id>`` (personal link) or
  ``survey:<survey id>:customer:<customer id>`` (portal/staff answers without an invitation), and
  a payload derived from the key only, so the earning rules pay at most once per invitation and
  once per survey and customer otherwise; a replay is never an idempotency conflict.
- Free-text answers are analysed and stored by `loyalist.feedback.service.record_text`.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock, db, signing
from loyalist.audit import service as audit
from loyalist.config import get_settings
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.errors import InvalidState, InvalidToken, NotFound, ValidationFailed
from loyalist.events import service as events
from loyalist.events.schemas import EventIn
from loyalist.feedback import service as feedback
from loyalist.interactions import service as interactions
from loyalist.messaging import service as messaging
from loyalist.messaging.schemas import MessageRead
from loyalist.purchases import service as purchases
from loyalist.surveys import queries, stats
from loyalist.surveys import templates_catalogue as catalogue
from loyalist.surveys.models import Survey, SurveyInvitation, SurveyResponse
from loyalist.surveys.schemas import (
    ANSWER_CHANNELS,
    EXIT_REASON_CODES,
    LOCALES,
    MAX_FREE_TEXT,
    SCALES,
    FromTemplate,
    GroupStats,
    InvitationRead,
    InvitationStats,
    InviteResult,
    PendingSurvey,
    PublicQuestion,
    PublicSurvey,
    Question,
    ReminderResult,
    ResponseRead,
    ScoreStats,
    SurveyCreate,
    SurveyRead,
    SurveyResults,
    SurveyUpdate,
    TemplateInfo,
)
from loyalist.tiers import service as tiers
from loyalist.types import SYSTEM, Actor

TOKEN_PURPOSE = "survey"
EVENT_SOURCE = "surveys"
ERASED_TEXT = "[erased]"
CHOICE_TYPES = ("single_choice", "multiple_choice")
NUMERIC_TYPES = ("nps", "csat", "ces", "rating")
PERIODS = ("week", "month", "quarter")
GROUP_BY = ("tier", "tag", "store", "channel", "locale", "survey")
DEFAULT_FATIGUE_DAYS = 30



# ---------------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------------


def _rows(session: Session, stmt: Any) -> int:
    result = cast("CursorResult[Any]", session.execute(stmt.execution_options(synchronize_session=False)))
    return result.rowcount


def _read(row: Survey) -> SurveyRead:
    return SurveyRead.model_validate(row)


def _snapshot(row: Survey) -> dict[str, Any]:
    return {"name": row.name, "kind": row.kind, "version": row.version, "status": row.status,
            "questions": [q["key"] for q in row.questions], "anonymous_link": row.public_token is not None,
            "link_valid_days": row.link_valid_days, "reminder_after_days": row.reminder_after_days,
            "max_reminders": row.max_reminders, "award_points": row.award_points}


def _check_texts(texts: dict[str, str], field: str) -> set[str]:
    if not texts:
        raise ValidationFailed(f"{field}: give the text in at least one language", field=field)
    for loc, text in texts.items():
        if loc not in LOCALES:
            raise ValidationFailed(f"{field}: unknown language {loc!r}; one of {list(LOCALES)}", field=field)
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed(f"{field}.{loc}: must not be empty", field=f"{field}.{loc}")
    return set(texts)


def _check_questions(questions: list[Question], title: dict[str, str], default_locale: str) -> list[str]:
    """Cross-field rules; returns the languages every text is available in."""
    if default_locale not in LOCALES:
        raise ValidationFailed(f"default_locale: one of {list(LOCALES)}", field="default_locale")
    locales = _check_texts(title, "title")
    seen: dict[str, Question] = {}
    for i, q in enumerate(questions):
        f = f"questions[{i}]"
        if q.key in seen:
            raise ValidationFailed(f"{f}.key: duplicate question key {q.key!r}", field=f"{f}.key")
        locales &= _check_texts(q.text, f"{f}.text")
        if q.type == "rating":
            if q.min is None or q.max is None:
                raise ValidationFailed(f"{f}.min: a rating question needs min and max", field=f"{f}.min")
            if q.min >= q.max or q.max - q.min > 100:
                raise ValidationFailed(f"{f}.max: must be above min (at most 100 steps)", field=f"{f}.max")
        elif q.min is not None or q.max is not None:
            raise ValidationFailed(f"{f}.min: min/max apply to rating questions only", field=f"{f}.min")
        if q.type in CHOICE_TYPES:
            codes = [o.code for o in q.options]
            if len(codes) < 2:
                raise ValidationFailed(f"{f}.options: a choice question needs at least two options",
                                       field=f"{f}.options")
            if len(set(codes)) != len(codes):
                raise ValidationFailed(f"{f}.options: duplicate option code", field=f"{f}.options")
            for j, o in enumerate(q.options):
                locales &= _check_texts(o.text, f"{f}.options[{j}].text")
            if q.exit_reasons and not set(codes) <= set(EXIT_REASON_CODES):
                raise ValidationFailed(f"{f}.options: exit-reason codes must be among {list(EXIT_REASON_CODES)}",
                                       field=f"{f}.options")
        else:
            if q.options:
                raise ValidationFailed(f"{f}.options: only choice questions have options", field=f"{f}.options")
            if q.exit_reasons:
                raise ValidationFailed(f"{f}.exit_reasons: only choice questions carry exit reasons",
                                       field=f"{f}.exit_reasons")
        if q.link is not None and not q.link.startswith(("https://", "http://")):
            raise ValidationFailed(f"{f}.link: must be an http(s) address", field=f"{f}.link")
        cond = q.show_if
        if cond is not None:
            cf = f"{f}.show_if"
            ref = seen.get(cond.question)
            if ref is None:
                raise ValidationFailed(f"{cf}.question: must name an earlier question", field=f"{cf}.question")
            if ref.type in NUMERIC_TYPES:
                if cond.in_ is not None or (cond.min is None and cond.max is None):
                    raise ValidationFailed(f"{cf}: a numeric question is matched by min and/or max",
                                           field=cf)
            elif ref.type in CHOICE_TYPES:
                known = {o.code for o in ref.options}
                if not cond.in_ or cond.min is not None or cond.max is not None:
                    raise ValidationFailed(f"{cf}.in: a choice question is matched by a set of codes",
                                           field=f"{cf}.in")
                unknown = sorted(set(cond.in_) - known)
                if unknown:
                    raise ValidationFailed(f"{cf}.in: unknown option(s) {unknown}", field=f"{cf}.in")
            else:
                raise ValidationFailed(f"{cf}.question: free-text answers cannot drive a condition",
                                       field=f"{cf}.question")
        seen[q.key] = q
    if default_locale not in locales:
        raise ValidationFailed(f"default_locale: every text must exist in {default_locale!r}",
                               field="default_locale")
    return sorted(locales)


def _dump_questions(questions: list[Question]) -> list[dict[str, Any]]:
    return [q.model_dump(mode="json", by_alias=True) for q in questions]


def list_templates() -> list[TemplateInfo]:
    out = []
    for code in catalogue.template_codes():
        built = catalogue.build(code)
        out.append(TemplateInfo(code=code, kind=built.kind, name=built.name, locales=list(LOCALES),
                                questions=len(built.questions)))
    return out


def template_draft(code: str, *, default_locale: str = "en") -> SurveyCreate:
    """A template as an editable draft (the console pre-fills its survey editor with it); nothing
    is written. Raises ValidationFailed naming `template` for an unknown code."""
    return catalogue.build(code, default_locale=default_locale)


def create_survey(session: Session, *, data: SurveyCreate, actor: Actor, template_code: str | None = None
                  ) -> SurveyRead:
    locales = _check_questions(data.questions, data.title, data.default_locale)
    now = clock.now()
    row = Survey(name=data.name.strip(), kind=data.kind, template_code=template_code, version=1, previous_id=None,
                 default_locale=data.default_locale, locales=locales, title=dict(data.title),
                 questions=_dump_questions(data.questions), status="active",
                 public_token=secrets.token_urlsafe(24) if data.anonymous_link else None,
                 link_valid_days=data.link_valid_days, reminder_after_days=data.reminder_after_days,
                 max_reminders=data.max_reminders, award_points=data.award_points, response_count=0,
                 created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="survey.create", target_type="survey", target_id=row.id,
                 after={**_snapshot(row), "template": template_code})
    return _read(row)


def create_from_template(session: Session, *, data: FromTemplate, actor: Actor) -> SurveyRead:
    built = catalogue.build(data.template, name=data.name, default_locale=data.default_locale,
                            review_link=data.review_link, anonymous_link=data.anonymous_link)
    return create_survey(session, data=built, actor=actor, template_code=data.template)


def _survey_row(session: Session, survey_id: int) -> Survey:
    row = session.get(Survey, survey_id)
    if row is None:
        raise NotFound(f"survey {survey_id} not found", field="survey_id")
    return row


def get_survey(session: Session, survey_id: int) -> SurveyRead:
    return _read(_survey_row(session, survey_id))


def list_surveys(session: Session, *, status: str | None = None, limit: int | None = None,
                 offset: int = 0) -> list[SurveyRead]:
    """Surveys by id; `limit`/`offset` page the list (the console shows 25 at a time)."""
    query = select(Survey).order_by(Survey.id)
    if status is not None:
        query = query.where(Survey.status == status)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [_read(r) for r in session.scalars(query)]


def update_survey(session: Session, *, survey_id: int, data: SurveyUpdate, actor: Actor) -> SurveyRead:
    row = _survey_row(session, survey_id)
    before = _snapshot(row)
    changes = data.model_dump(exclude_unset=True)
    if ("questions" in changes or "title" in changes) and row.response_count > 0:
        raise InvalidState(f"questions: survey {survey_id} has answers and is frozen; create a new version",
                           field="questions")
    for name in ("name", "status", "link_valid_days", "max_reminders", "award_points"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name}: must not be null", field=name)
    questions = data.questions if data.questions is not None else [Question.model_validate(q)
                                                                   for q in row.questions]
    title = data.title if data.title is not None else row.title
    locales = _check_questions(questions, title, row.default_locale)
    if data.questions is not None:
        row.questions = _dump_questions(data.questions)
    row.title, row.locales = dict(title), locales
    for name in ("name", "status", "link_valid_days", "reminder_after_days", "max_reminders", "award_points"):
        if name in changes:
            setattr(row, name, changes[name].strip() if name == "name" else changes[name])
    if "anonymous_link" in changes:
        if changes["anonymous_link"] and row.public_token is None:
            row.public_token = secrets.token_urlsafe(24)
        elif not changes["anonymous_link"]:
            row.public_token = None
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="survey.update", target_type="survey", target_id=row.id,
                 before=before, after=_snapshot(row))
    return _read(row)


def new_version(session: Session, *, survey_id: int, actor: Actor, questions: list[Question] | None = None
                ) -> SurveyRead:
    """Copy a (frozen) survey into version + 1 with optionally new questions; the old one is closed."""
    old = _survey_row(session, survey_id)
    qs = questions if questions is not None else [Question.model_validate(q) for q in old.questions]
    locales = _check_questions(qs, old.title, old.default_locale)
    now = clock.now()
    row = Survey(name=old.name, kind=old.kind, template_code=old.template_code, version=old.version + 1,
                 previous_id=old.id, default_locale=old.default_locale, locales=locales, title=dict(old.title),
                 questions=_dump_questions(qs), status="active",
                 public_token=secrets.token_urlsafe(24) if old.public_token else None,
                 link_valid_days=old.link_valid_days, reminder_after_days=old.reminder_after_days,
                 max_reminders=old.max_reminders, award_points=old.award_points, response_count=0,
                 created_at=now, updated_at=now)
    session.add(row)
    old.status, old.updated_at = "closed", now
    session.flush()
    audit.record(session, actor=actor, action="survey.new_version", target_type="survey", target_id=row.id,
                 before={"survey_id": old.id, "version": old.version}, after=_snapshot(row))
    return _read(row)


# ---------------------------------------------------------------------------------------------
# Showing a survey and validating answers
# ---------------------------------------------------------------------------------------------


def _lang(locale: str | None) -> str | None:
    return locale.replace("_", "-").split("-")[0].lower() if locale else None


def _pick_locale(survey: Survey, wanted: str | None) -> str:
    lang = _lang(wanted)
    return lang if lang is not None and lang in survey.locales else survey.default_locale


def _public(survey: Survey, locale: str) -> PublicSurvey:
    qs = []
    for q in survey.questions:
        lo, hi = (q["min"], q["max"]) if q["type"] == "rating" else SCALES.get(q["type"], (None, None))
        qs.append(PublicQuestion(
            key=q["key"], type=q["type"], text=q["text"].get(locale) or q["text"][survey.default_locale],
            required=q["required"], min=lo, max=hi,
            options=[{"code": o["code"], "text": o["text"].get(locale) or o["text"][survey.default_locale]}
                     for o in q["options"]],
            show_if={k: q["show_if"][k] for k in ("question", "min", "max", "in")  # stable order on both DBs
                     if q["show_if"].get(k) is not None} if q["show_if"] else None,
            link=q["link"]))
    return PublicSurvey(survey_id=survey.id, title=survey.title.get(locale) or survey.title[survey.default_locale],
                        locale=locale, questions=qs)


def public_survey(session: Session, *, survey_id: int, locale: str | None = None) -> PublicSurvey:
    """The survey as a customer sees it (portal): texts in `locale` when available."""
    survey = _survey_row(session, survey_id)
    return _public(survey, _pick_locale(survey, locale))


def _shown(cond: dict[str, Any] | None, answers: dict[str, Any]) -> bool:
    if not cond:
        return True
    value = answers.get(cond["question"])
    if value is None:
        return False
    if cond.get("in") is not None:
        chosen = value if isinstance(value, list) else [value]
        return bool(set(chosen) & set(cond["in"]))
    lo, hi = cond.get("min"), cond.get("max")
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def is_shown(condition: dict[str, Any] | None, answers: dict[str, Any]) -> bool:
    """Whether a question with `condition` (its `show_if`) is asked, given the answers so far.
    Public for pages that ask follow-ups step by step without JavaScript (the portal)."""
    return _shown(condition, answers)


def validate_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """Clean answers in question order; every refusal names the question (`answers.<key>`)."""
    if not isinstance(answers, dict):
        raise ValidationFailed("answers: must be an object of question key -> answer", field="answers")
    keys = {q["key"] for q in questions}
    unknown = sorted(set(answers) - keys)
    if unknown:
        raise ValidationFailed(f"answers.{unknown[0]}: no such question", field=f"answers.{unknown[0]}")
    clean: dict[str, Any] = {}
    for q in questions:
        key, f = q["key"], f"answers.{q['key']}"
        value = answers.get(key)
        if isinstance(value, str) and q["type"] != "free_text":
            value = value.strip() or None
        if isinstance(value, str) and not value.strip():
            value = None
        if isinstance(value, list) and not value:
            value = None
        if not _shown(q["show_if"], clean):
            if value is not None:
                raise ValidationFailed(f"{f}: not asked for the answers given (condition not met)", field=f)
            continue
        if value is None:
            if q["required"]:
                raise ValidationFailed(f"{f}: an answer is required", field=f)
            continue
        kind = q["type"]
        if kind in NUMERIC_TYPES:
            lo, hi = (q["min"], q["max"]) if kind == "rating" else SCALES[kind]
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValidationFailed(f"{f}: must be a whole number from {lo} to {hi}", field=f)
        elif kind == "single_choice":
            codes = [o["code"] for o in q["options"]]
            if value not in codes:
                raise ValidationFailed(f"{f}: must be one of {codes}", field=f)
        elif kind == "multiple_choice":
            codes = [o["code"] for o in q["options"]]
            chosen = value if isinstance(value, list) else [value]
            bad = [c for c in chosen if c not in codes]
            if bad:
                raise ValidationFailed(f"{f}: unknown option(s) {bad}; choose from {codes}", field=f)
            value = [c for c in codes if c in set(chosen)]  # option order, no duplicates
        else:
            if not isinstance(value, str):
                raise ValidationFailed(f"{f}: must be text", field=f)
            value = value.strip()
            if len(value) > MAX_FREE_TEXT:
                raise ValidationFailed(f"{f}: at most {MAX_FREE_TEXT} characters", field=f)
            if "\x00" in value:
                raise ValidationFailed(f"{f}: must not contain NUL characters", field=f)
        clean[key] = value
    return clean


def _headline(questions: list[dict[str, Any]], clean: dict[str, Any]) -> dict[str, Any]:
    """The first NPS/CSAT/CES answer and all exit-reason codes chosen."""
    out: dict[str, Any] = {"nps": None, "csat": None, "ces": None, "exit_reasons": []}
    for q in questions:
        value = clean.get(q["key"])
        if value is None:
            continue
        if q["type"] in ("nps", "csat", "ces") and out[q["type"]] is None:
            out[q["type"]] = value
        if q["exit_reasons"]:
            for code in value if isinstance(value, list) else [value]:
                if code not in out["exit_reasons"]:
                    out["exit_reasons"].append(code)
    return out


# ---------------------------------------------------------------------------------------------
# Answering
# ---------------------------------------------------------------------------------------------


def _invitation_from_token(session: Session, token: str) -> SurveyInvitation:
    payload = signing.read_token(TOKEN_PURPOSE, token)
    inv = session.scalar(select(SurveyInvitation).where(SurveyInvitation.jti == payload.get("jti")))
    if inv is None or inv.id != payload.get("inv"):
        raise InvalidToken("token: unknown survey link", field="token")
    if inv.status == "answered":
        raise InvalidToken("token: this survey link has already been used", field="token")
    if inv.status != "sent":
        raise InvalidToken("token: this survey link is not valid", field="token")
    return inv


def open_invitation(session: Session, *, token: str) -> PublicSurvey:
    """GET behind a personal link: the survey in the invitation's language (nothing is written)."""
    inv = _invitation_from_token(session, token)
    survey = _survey_row(session, inv.survey_id)
    if survey.status != "active":
        raise InvalidState("survey: this survey is closed", field="survey_id")
    return _public(survey, inv.locale)


def _anonymous_survey(session: Session, public_token: str) -> Survey:
    survey = session.scalar(select(Survey).where(Survey.public_token == public_token)) if public_token else None
    if survey is None:
        raise NotFound("survey link not found", field="token")
    return survey


def open_anonymous(session: Session, *, public_token: str, locale: str | None = None) -> PublicSurvey:
    survey = _anonymous_survey(session, public_token)
    if survey.status != "active":
        raise InvalidState("survey: this survey is closed", field="survey_id")
    return _public(survey, _pick_locale(survey, locale))


def _nps_category(nps: int | None) -> str | None:
    return stats.nps_category(nps) if nps is not None else None


def _summary(survey: Survey, head: dict[str, Any]) -> str:
    parts = []
    if head["nps"] is not None:
        parts.append(f"NPS {head['nps']} ({_nps_category(head['nps'])})")
    if head["csat"] is not None:
        parts.append(f"CSAT {head['csat']}/5")
    if head["exit_reasons"]:
        parts.append("reasons: " + ", ".join(head["exit_reasons"]))
    return f"Answered survey '{survey.name}'" + (": " + "; ".join(parts) if parts else "")


def submit_response(
    session: Session,
    *,
    survey_id: int,
    customer_id: int | None,
    answers: dict[str, Any],
    channel: str,
    invitation_token: str | None = None,
    actor: Actor,
    locale: str | None = None,
) -> ResponseRead:
    """Record one answer set (the one entry point: personal link, anonymous link, portal, staff).

    - `invitation_token`: a personal link's token; the invitation is consumed (single use) and its
      customer answers (a different `customer_id` is refused).
    - `customer_id` without a token: portal or staff entry; an open invitation of that customer to
      this survey is marked answered with it.
    - neither: an anonymous answer (no timeline row, no points).
    Validation runs before any write; a refusal leaves nothing behind.
    """
    if channel not in ANSWER_CHANNELS:
        raise ValidationFailed(f"channel: one of {list(ANSWER_CHANNELS)}", field="channel")
    survey = _survey_row(session, survey_id)
    inv: SurveyInvitation | None = None
    if invitation_token is not None:
        inv = _invitation_from_token(session, invitation_token)
        if inv.survey_id != survey.id:
            raise InvalidToken("token: this link belongs to another survey", field="token")
        if customer_id is not None and customer_id != inv.customer_id:
            raise InvalidToken("token: this link belongs to another customer", field="token")
        customer_id = inv.customer_id
    if survey.status != "active":
        raise InvalidState("survey: this survey is closed", field="survey_id")
    profile = customers.get_customer(session, customer_id) if customer_id is not None else None
    if profile is not None and profile.status != "active":
        raise InvalidState(f"customer_id: customer {customer_id} is {profile.status}", field="customer_id")
    clean = validate_answers(survey.questions, answers)
    head = _headline(survey.questions, clean)
    if inv is None and customer_id is not None:
        inv = session.scalar(select(SurveyInvitation).where(
            SurveyInvitation.survey_id == survey.id, SurveyInvitation.customer_id == customer_id,
            SurveyInvitation.status == "sent").order_by(SurveyInvitation.id.desc()).limit(1))
    resp_locale = inv.locale if inv is not None else _pick_locale(survey, locale or (profile.locale if profile
                                                                                   else None))
    tier_code = store = None
    if customer_id is not None:
        status = tiers.current_tier(session, customer_id)
        tier_code = status.code if status is not None else None
        last = purchases.list_purchases(session, customer_id, limit=1).items
        store = last[0].store if last else None
    now = clock.now()
    try:
        with session.begin_nested():
            if inv is not None:
                moved = _rows(session, update(SurveyInvitation).where(
                    SurveyInvitation.id == inv.id, SurveyInvitation.status == "sent").values(
                    status="answered", answered_at=now))
                if moved != 1:
                    raise InvalidToken("token: this survey link has already been used", field="token")
            row = SurveyResponse(survey_id=survey.id, survey_version=survey.version, customer_id=customer_id,
                                 invitation_id=inv.id if inv is not None else None, channel=channel,
                                 locale=resp_locale, answers=clean, nps=head["nps"], csat=head["csat"],
                                 ces=head["ces"], exit_reasons=head["exit_reasons"], tier_code=tier_code,
                                 store=store, tags=list(profile.tags) if profile is not None else [],
                                 submitted_at=now, erased_at=None, actor=actor.label)
            session.add(row)
            session.flush()
            if inv is not None:
                _rows(session, update(SurveyInvitation).where(SurveyInvitation.id == inv.id)
                      .values(response_id=row.id))
            _rows(session, update(Survey).where(Survey.id == survey.id)
                  .values(response_count=Survey.response_count + 1))
    except IntegrityError as exc:  # a concurrent submit of the same invitation won
        raise InvalidToken("token: this survey link has already been used", field="token") from exc
    for obj in (inv, survey):
        if obj is not None:
            session.expire(obj)
    points = 0
    if customer_id is not None:
        data = {"survey_id": survey.id, "response_id": row.id, "nps": head["nps"],
                "nps_category": _nps_category(head["nps"]), "csat": head["csat"],
                "exit_reasons": list(head["exit_reasons"])}
        interactions.record(session, customer_id=customer_id, kind="survey_answer", channel=channel,
                            summary=_summary(survey, head), direction="inbound", occurred_at=now, actor=actor,
                            source_type="survey_response", source_id=str(row.id), data=data)
        if survey.award_points:
            points = _award(session, survey=survey, customer_id=customer_id, invitation_id=row.invitation_id,
                            channel=channel, actor=actor)
    scale = "nps" if head["nps"] is not None else "csat" if head["csat"] is not None else None
    for q in survey.questions:
        text = clean.get(q["key"])
        if q["type"] == "free_text" and text:
            feedback.record_text(session, customer_id=customer_id, text=text, source_type="survey_answer",
                                 source_id=f"{row.id}:{q['key']}", occurred_at=now, channel=channel,
                                 score=head[scale] if scale else None, score_scale=scale,
                                 labels=list(head["exit_reasons"]), actor=actor)
    audit.record(session, actor=actor, action="survey.response", target_type="survey_response", target_id=row.id,
                 after={"survey_id": survey.id, "customer_id": customer_id, "invitation_id": row.invitation_id,
                        "channel": channel, "nps": head["nps"], "csat": head["csat"], "points": points})
    out = ResponseRead.model_validate(row)
    out.points = points
    return out


def record_answers_bulk(session: Session, *, survey_id: int, items: list[dict[str, Any]], actor: Actor
                        ) -> list[ResponseRead]:
    """Many staff/portal-style answers of known customers to one survey (`submit_response` with a
    `customer_id` and no token, once per item) in a constant number of statements per batch,
    except the points: each award is still one `survey_completed` event through the events
    domain. Each item: `customer_id`, `answers`, `channel`, optional `locale` and optional
    `submitted_at` (answers collected earlier, e.g. on paper or in a backfill: the response,
    timeline entry, feedback item and points are dated then; audit rows are dated when recorded).

    Same rows as one `submit_response` per item: response, open invitation marked answered,
    timeline entry, award event, feedback items for free texts, audit row. Everything is checked
    before anything is written; any refusal raises (naming `items[<n>]` and the field) and writes
    nothing."""
    survey = _survey_row(session, survey_id)
    if survey.status != "active":
        raise InvalidState("survey: this survey is closed", field="survey_id")
    now = clock.now()
    ids = [item.get("customer_id") for item in items]
    profiles = customers.get_customers(session, [c for c in ids if isinstance(c, int)])
    prepared: list[tuple[int, dict[str, Any], dict[str, Any], datetime]] = []
    for n, item in enumerate(items):
        cid, channel = item.get("customer_id"), item.get("channel")
        try:
            if channel not in ANSWER_CHANNELS:
                raise ValidationFailed(f"channel: one of {list(ANSWER_CHANNELS)}", field="channel")
            if not isinstance(cid, int) or cid not in profiles:
                raise NotFound(f"customer {cid} not found", field="customer_id")
            if profiles[cid].status != "active":
                raise InvalidState(f"customer_id: customer {cid} is {profiles[cid].status}", field="customer_id")
            clean = validate_answers(survey.questions, item.get("answers"))  # type: ignore[arg-type]
            at = item.get("submitted_at") or now
            try:
                at = clock.ensure_utc(at)
            except ValueError as exc:
                raise ValidationFailed("submitted_at: must include a timezone", field="submitted_at") from exc
            if at > now:
                raise ValidationFailed("submitted_at: is in the future", field="submitted_at")
        except (ValidationFailed, NotFound, InvalidState) as exc:
            raise type(exc)(f"items[{n}]: {exc.message}", field=f"items[{n}].{exc.field}" if exc.field else None,
                            line=n) from exc
        prepared.append((cid, clean, _headline(survey.questions, clean), at))
    # each customer's open invitations, newest first: answers consume them in order, as one by one would
    open_invites: dict[int, list[SurveyInvitation]] = {}
    wanted = sorted(set(profiles))
    for start in range(0, len(wanted), 1000):
        for inv in session.scalars(select(SurveyInvitation).where(
                SurveyInvitation.survey_id == survey.id, SurveyInvitation.status == "sent",
                SurveyInvitation.customer_id.in_(wanted[start:start + 1000])).order_by(SurveyInvitation.id.desc())):
            open_invites.setdefault(inv.customer_id, []).append(inv)
    tier_of = tiers.current_tiers(session, wanted)
    store_of = queries.last_store_by_customer(session, wanted)
    rows: list[SurveyResponse] = []
    used: list[SurveyInvitation | None] = []
    for (cid, clean, head, at), item in zip(prepared, items, strict=True):
        taken: SurveyInvitation | None = open_invites[cid].pop(0) if open_invites.get(cid) else None
        used.append(taken)
        tier = tier_of.get(cid)
        rows.append(SurveyResponse(
            survey_id=survey.id, survey_version=survey.version, customer_id=cid,
            invitation_id=taken.id if taken is not None else None, channel=item["channel"],
            locale=(taken.locale if taken is not None
                    else _pick_locale(survey, item.get("locale") or profiles[cid].locale)),
            answers=clean, nps=head["nps"], csat=head["csat"], ces=head["ces"], exit_reasons=head["exit_reasons"],
            tier_code=tier.code if tier is not None else None, store=store_of.get(cid),
            tags=list(profiles[cid].tags), submitted_at=at, erased_at=None, actor=actor.label))
    try:
        with session.begin_nested():
            rows = db.insert_many(session, rows)
            consumed = [(inv, r) for inv, r in zip(used, rows, strict=True) if inv is not None]
            if consumed:
                moved = _rows(session, update(SurveyInvitation).where(
                    SurveyInvitation.id.in_([inv.id for inv, _r in consumed]), SurveyInvitation.status == "sent")
                    .values(status="answered"))
                if moved != len(consumed):
                    raise InvalidToken("token: this survey link has already been used", field="token")
                session.execute(update(SurveyInvitation), [
                    {"id": inv.id, "answered_at": r.submitted_at, "response_id": r.id} for inv, r in consumed])
            _rows(session, update(Survey).where(Survey.id == survey.id)
                  .values(response_count=Survey.response_count + len(rows)))
    except IntegrityError as exc:  # a concurrent submit of the same invitation won
        raise InvalidToken("token: this survey link has already been used", field="token") from exc
    for obj in [survey, *(inv for inv in used if inv is not None)]:
        session.expire(obj)
    interactions.record_many(session, [dict(
        customer_id=r.customer_id, kind="survey_answer", channel=r.channel, summary=_summary(survey, head),
        direction="inbound", occurred_at=r.submitted_at, actor=actor, source_type="survey_response",
        source_id=str(r.id), data={"survey_id": survey.id, "response_id": r.id, "nps": head["nps"],
                                   "nps_category": _nps_category(head["nps"]), "csat": head["csat"],
                                   "exit_reasons": list(head["exit_reasons"])})
        for r, (_c, _a, head, _t) in zip(rows, prepared, strict=True)])
    points: list[int] = []
    for r in rows:
        if survey.award_points:
            assert r.customer_id is not None
            with clock.frozen_at(r.submitted_at):  # the event is dated when the answer was given
                points.append(_award(session, survey=survey, customer_id=r.customer_id,
                                     invitation_id=r.invitation_id, channel=r.channel, actor=actor))
        else:
            points.append(0)
    texts = []
    for r, (_c, clean, head, _t) in zip(rows, prepared, strict=True):
        scale = "nps" if head["nps"] is not None else "csat" if head["csat"] is not None else None
        for q in survey.questions:
            text = clean.get(q["key"])
            if q["type"] == "free_text" and text:
                texts.append(dict(customer_id=r.customer_id, text=text, source_type="survey_answer",
                                  source_id=f"{r.id}:{q['key']}", occurred_at=r.submitted_at, channel=r.channel,
                                  score=head[scale] if scale else None, score_scale=scale,
                                  labels=list(head["exit_reasons"])))
    feedback.record_texts(session, items=texts, actor=actor)
    audit.record_many(session, actor=actor, action="survey.response", target_type="survey_response", items=[
        (r.id, {"survey_id": survey.id, "customer_id": r.customer_id, "invitation_id": r.invitation_id,
                "channel": r.channel, "nps": r.nps, "csat": r.csat, "points": p})
        for r, p in zip(rows, points, strict=True)])
    out = []
    for r, p in zip(rows, points, strict=True):
        read = ResponseRead.model_validate(r)
        read.points = p
        out.append(read)
    return out


def _award(session: Session, *, survey: Survey, customer_id: int, invitation_id: int | None, channel: str,
           actor: Actor) -> int:
    """Submit `survey_completed` to the events domain; the earning rules decide the points."""
    if invitation_id is not None:
        key, data = f"survey-invitation:{invitation_id}", {"survey_id": survey.id, "invitation_id": invitation_id}
    else:
        key, data = f"survey:{survey.id}:customer:{customer_id}", {"survey_id": survey.id}
    result = events.ingest(session, data=EventIn(type="survey_completed", idempotency_key=key, source=EVENT_SOURCE,
                                                 customer_id=customer_id, channel=channel, data=data),
                           actor=actor)
    return 0 if result.replayed else result.points


def submit_by_token(session: Session, *, token: str, answers: dict[str, Any], channel: str = "web",
                    actor: Actor | None = None) -> ResponseRead:
    """POST behind a personal link (no login: the signed token is the credential)."""
    inv = _invitation_from_token(session, token)
    who = actor or Actor(kind="customer", id=inv.customer_id, name="survey link")
    return submit_response(session, survey_id=inv.survey_id, customer_id=None, answers=answers, channel=channel,
                           invitation_token=token, actor=who)


def submit_anonymous(session: Session, *, public_token: str, answers: dict[str, Any],
                     locale: str | None = None) -> ResponseRead:
    survey = _anonymous_survey(session, public_token)
    return submit_response(session, survey_id=survey.id, customer_id=None, answers=answers, channel="web",
                           actor=Actor(kind="system", id=None, name="anonymous survey link"), locale=locale)


def pending_for_customer(session: Session, *, customer_id: int) -> list[PendingSurvey]:
    """Open invitations of a customer to active surveys, newest first (links still valid).
    The portal shows them and answers with `submit_response(..., customer_id=..., channel="portal")`,
    which consumes the invitation."""
    now = clock.now()
    rows = session.execute(
        select(SurveyInvitation, Survey).join(Survey, Survey.id == SurveyInvitation.survey_id).where(
            SurveyInvitation.customer_id == customer_id, SurveyInvitation.status == "sent",
            SurveyInvitation.expires_at > now, Survey.status == "active")
        .order_by(SurveyInvitation.created_at.desc(), SurveyInvitation.id.desc())).all()
    return [PendingSurvey(survey_id=survey.id, invitation_id=inv.id, locale=inv.locale,
                          title=survey.title.get(inv.locale) or survey.title[survey.default_locale],
                          invited_at=inv.created_at, expires_at=inv.expires_at) for inv, survey in rows]


def list_responses(session: Session, *, survey_id: int | None = None, customer_id: int | None = None,
                   limit: int = 100, offset: int = 0) -> list[ResponseRead]:
    query = select(SurveyResponse).order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc())
    if survey_id is not None:
        query = query.where(SurveyResponse.survey_id == survey_id)
    if customer_id is not None:
        query = query.where(SurveyResponse.customer_id == customer_id)
    return [ResponseRead.model_validate(r) for r in session.scalars(query.limit(limit).offset(offset))]


# ---------------------------------------------------------------------------------------------
# Invitations and reminders
# ---------------------------------------------------------------------------------------------

MESSAGES: dict[str, dict[str, str]] = {
    "en": {"subject": "{title}: a minute of your time?",
           "text": "Hello{name},\n\nWe would value your opinion. It takes about a minute:\n{link}\n\n"
                   "The link is personal and works until {until}.\n\n{business}",
           "reminder": "A reminder: {title}"},
    "ru": {"subject": "{title}: уделите нам минуту?",
           "text": "Здравствуйте{name}!\n\nНам важно ваше мнение. Это займёт около минуты:\n{link}\n\n"
                   "Ссылка персональная и действует до {until}.\n\n{business}",
           "reminder": "Напоминание: {title}"},
    "uk": {"subject": "{title}: приділіть нам хвилину?",
           "text": "Вітаємо{name}!\n\nНам важлива ваша думка. Це займе близько хвилини:\n{link}\n\n"
                   "Посилання персональне й діє до {until}.\n\n{business}",
           "reminder": "Нагадування: {title}"},
    "da": {"subject": "{title}: har du et minut?",
           "text": "Hej{name}\n\nVi vil gerne høre din mening. Det tager cirka et minut:\n{link}\n\n"
                   "Linket er personligt og virker indtil {until}.\n\n{business}",
           "reminder": "En påmindelse: {title}"},
}


def survey_link(token: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/v1/public/surveys/i/{token}"


def _token_for(inv: SurveyInvitation) -> str:
    assert inv.jti is not None and inv.expires_at is not None
    return signing.sign_token(TOKEN_PURPOSE, {"inv": inv.id, "jti": inv.jti}, expires_at=inv.expires_at)


def _send_item(*, survey: Survey, inv: SurveyInvitation, first_name: str | None, reminder: int = 0
               ) -> dict[str, Any]:
    """The outbox message (`messaging.enqueue` arguments) inviting to or reminding of a survey."""
    texts = MESSAGES.get(inv.locale, MESSAGES["en"])
    title = survey.title.get(inv.locale) or survey.title[survey.default_locale]
    link = survey_link(_token_for(inv))
    assert inv.expires_at is not None
    body = texts["text"].format(name=f" {first_name}" if first_name else "", link=link,
                                until=inv.expires_at.strftime("%Y-%m-%d"), business=get_settings().business_name)
    subject = texts["subject"].format(title=title)
    if reminder:
        subject = texts["reminder"].format(title=title)
    key = f"survey-invitation:{inv.id}" + (f":reminder:{reminder}" if reminder else "")
    return dict(channel=inv.channel, customer_id=inv.customer_id, dedupe_key=key, subject=subject, text=body,
                html=None, category="service", source_type="survey_invitation", source_id=str(inv.id),
                locale=inv.locale)


def _send(session: Session, *, survey: Survey, inv: SurveyInvitation, first_name: str | None, actor: Actor,
          reminder: int = 0) -> MessageRead:
    return messaging.enqueue(session, actor=actor, **_send_item(survey=survey, inv=inv, first_name=first_name,
                                                                reminder=reminder))


def invite(session: Session, *, survey_id: int, customer_ids: Iterable[int], actor: Actor, channel: str = "email",
           fatigue_days: int = DEFAULT_FATIGUE_DAYS) -> InviteResult:
    """Invite customers by personal link (email or SMS through the messaging outbox).

    Skipped (recorded with the reason): 'inactive' (erased/merged customer), 'already_invited'
    (an open or answered invitation to this survey), 'fatigue' (invited to any survey or answered
    one within `fatigue_days`), 'no_address' (no email address / phone for the channel; the
    outbox keeps its skipped message)."""
    if channel not in ("email", "sms"):
        raise ValidationFailed("channel: email or sms", field="channel")
    if fatigue_days < 0:
        raise ValidationFailed("fatigue_days: must not be negative", field="fatigue_days")
    survey = _survey_row(session, survey_id)
    if survey.status != "active":
        raise InvalidState("survey: a closed survey cannot be sent", field="survey_id")
    ids = list(dict.fromkeys(int(c) for c in customer_ids))
    if not ids:
        raise ValidationFailed("customer_ids: give at least one customer", field="customer_ids")
    profiles = customers.get_customers(session, ids)
    missing = [cid for cid in ids if cid not in profiles]
    if missing:
        raise ValidationFailed(f"customer_ids: unknown customer(s) {missing[:20]}", field="customer_ids")
    now = clock.now()
    since = now - timedelta(days=fatigue_days)
    live = ("sent", "answered")
    invited_here: set[int] = set()
    recent: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        invited_here |= set(session.scalars(select(SurveyInvitation.customer_id).where(
            SurveyInvitation.survey_id == survey.id, SurveyInvitation.status.in_(live),
            SurveyInvitation.customer_id.in_(chunk))))
        if fatigue_days:
            recent |= set(session.scalars(select(SurveyInvitation.customer_id).where(
                SurveyInvitation.customer_id.in_(chunk), SurveyInvitation.status.in_(live),
                SurveyInvitation.created_at > since)))
            recent |= set(session.scalars(select(SurveyResponse.customer_id).where(
                SurveyResponse.customer_id.in_(chunk), SurveyResponse.submitted_at > since)))
    fresh: list[SurveyInvitation] = []
    for cid in ids:
        profile = profiles[cid]
        reason = ("inactive" if profile.status != "active" else "already_invited" if cid in invited_here
                  else "fatigue" if cid in recent else None)
        fresh.append(SurveyInvitation(survey_id=survey.id, customer_id=cid, status="skipped" if reason else "sent",
                                      skip_reason=reason, jti=None if reason else secrets.token_urlsafe(16),
                                      locale=_pick_locale(survey, profile.locale), channel=channel, created_at=now,
                                      expires_at=None if reason else now + timedelta(days=survey.link_valid_days),
                                      reminder_count=0, actor=actor.label))
    made = db.insert_many(session, fresh)
    links: dict[int, str] = {}
    skipped: Counter[str] = Counter(inv.skip_reason for inv in made if inv.skip_reason)
    to_send = [inv for inv in made if inv.status == "sent"]
    messages = messaging.enqueue_many(session, actor=actor, items=[
        _send_item(survey=survey, inv=inv, first_name=profiles[inv.customer_id].first_name) for inv in to_send])
    reached = []
    for inv, msg in zip(to_send, messages, strict=True):
        inv.message_id = msg.id
        if msg.status == "skipped":  # no address for the channel: the invitation never reaches anyone
            inv.status, inv.skip_reason = "skipped", "no_address"
            skipped["no_address"] += 1
            continue
        links[inv.customer_id] = survey_link(_token_for(inv))
        reached.append(inv)
    interactions.record_many(session, [dict(
        customer_id=inv.customer_id, kind="invitation", channel=channel, summary=f"Invited to survey '{survey.name}'",
        direction="outbound", occurred_at=now, actor=actor, source_type="survey_invitation", source_id=str(inv.id),
        data={"survey_id": survey.id, "invitation_id": inv.id, "message_id": inv.message_id}) for inv in reached])
    session.flush()
    invited = len(made) - sum(skipped.values())
    audit.record(session, actor=actor, action="survey.invite", target_type="survey", target_id=survey.id,
                 after={"invited": invited, "skipped": dict(skipped), "channel": channel,
                        "fatigue_days": fatigue_days})
    return InviteResult(invited=invited, skipped=dict(skipped),
                        invitations=[InvitationRead.model_validate(i) for i in made], links=links)


def send_reminders(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> ReminderResult:
    """Remind non-responders `reminder_after_days` after the invitation (or the last reminder),
    at most `max_reminders` times, while the link is still valid. Re-runnable: each reminder
    moves `reminder_count` by a guarded UPDATE and has its own outbox dedupe key."""
    now = clock.ensure_utc(as_of) if as_of is not None else clock.now()
    rows = session.execute(
        select(SurveyInvitation, Survey).join(Survey, Survey.id == SurveyInvitation.survey_id).where(
            SurveyInvitation.status == "sent", Survey.status == "active", Survey.reminder_after_days.is_not(None),
            SurveyInvitation.reminder_count < Survey.max_reminders, SurveyInvitation.expires_at > now)
        .order_by(SurveyInvitation.id)).all()
    done: list[int] = []
    for inv, survey in rows:
        last = inv.last_reminded_at or inv.created_at
        if last > now - timedelta(days=survey.reminder_after_days or 0):
            continue
        count = inv.reminder_count
        moved = _rows(session, update(SurveyInvitation).where(
            SurveyInvitation.id == inv.id, SurveyInvitation.status == "sent",
            SurveyInvitation.reminder_count == count).values(reminder_count=count + 1, last_reminded_at=now))
        if moved != 1:
            continue
        profile = customers.get_customer(session, inv.customer_id)
        if profile.status != "active":
            continue
        _send(session, survey=survey, inv=inv, first_name=profile.first_name, actor=actor, reminder=count + 1)
        interactions.record(session, customer_id=inv.customer_id, kind="invitation", channel=inv.channel,
                            summary=f"Reminded about survey '{survey.name}'", direction="outbound",
                            occurred_at=now, actor=actor, source_type="survey_invitation", source_id=str(inv.id),
                            data={"survey_id": survey.id, "invitation_id": inv.id, "reminder": count + 1})
        done.append(inv.id)
    for inv, _ in rows:
        session.expire(inv)
    if done:
        audit.record(session, actor=actor, action="survey.remind", target_type="survey_invitation",
                     after={"invitation_ids": done})
    return ReminderResult(reminded=len(done), invitation_ids=done)


def invitation_stats(session: Session, survey_id: int) -> InvitationStats:
    """How a survey's invitations stand: by status, and why the skipped ones were refused."""
    _survey_row(session, survey_id)
    by_status = queries.invitation_status_counts(session, survey_id)
    sent = by_status.get("sent", 0) + by_status.get("answered", 0)
    return InvitationStats(survey_id=survey_id, by_status=by_status,
                           skipped_by_reason=queries.skip_reason_counts(session, survey_id),
                           response_rate=round(100.0 * by_status.get("answered", 0) / sent, 1) if sent else None)


def list_invitations(session: Session, *, survey_id: int, status: str | None = None, limit: int = 200,
                     offset: int = 0) -> list[InvitationRead]:
    _survey_row(session, survey_id)
    query = select(SurveyInvitation).where(SurveyInvitation.survey_id == survey_id)
    if status is not None:
        query = query.where(SurveyInvitation.status == status)
    return [InvitationRead.model_validate(r)
            for r in session.scalars(query.order_by(SurveyInvitation.id).limit(limit).offset(offset))]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def period_key(when: datetime, period: str, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def results(session: Session, *, survey_id: int | None = None, since: datetime | None = None,
            until: datetime | None = None, period: str = "month", by: str | None = None,
            confidence: float = 0.95) -> SurveyResults:
    """NPS and CSAT overall, per period (trend) and per group, with intervals (see `stats`);
    response rate of the invitations created in the window; exit-reason counts.

    `by`: tier / tag / store (the customer's at answering time), channel, locale or survey. `since` inclusive,
    `until` exclusive. Periods are calendar weeks/months/quarters in the business time zone."""
    if period not in PERIODS:
        raise ValidationFailed(f"period: one of {list(PERIODS)}", field="period")
    if by is not None and by not in GROUP_BY:
        raise ValidationFailed(f"by: one of {list(GROUP_BY)}", field="by")
    if not 0.5 <= confidence < 1:
        raise ValidationFailed("confidence: between 0.5 and 1 (e.g. 0.95)", field="confidence")
    since = clock.ensure_utc(since) if since is not None else None
    until = clock.ensure_utc(until) if until is not None else None
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until: must be after since", field="until")
    if survey_id is not None:
        _survey_row(session, survey_id)
    z = stats.z_value(confidence)
    zone = ZoneInfo(get_settings().timezone)
    query = select(SurveyResponse.submitted_at, SurveyResponse.nps, SurveyResponse.csat,
                   SurveyResponse.exit_reasons, SurveyResponse.tier_code, SurveyResponse.store,
                   SurveyResponse.channel, SurveyResponse.locale, SurveyResponse.survey_id, SurveyResponse.tags)
    inv_query = select(SurveyInvitation.status, func.count()).where(SurveyInvitation.status != "skipped")
    if survey_id is not None:
        query = query.where(SurveyResponse.survey_id == survey_id)
        inv_query = inv_query.where(SurveyInvitation.survey_id == survey_id)
    if since is not None:
        query = query.where(SurveyResponse.submitted_at >= since)
        inv_query = inv_query.where(SurveyInvitation.created_at >= since)
    if until is not None:
        query = query.where(SurveyResponse.submitted_at < until)
        inv_query = inv_query.where(SurveyInvitation.created_at < until)
    rows = list(session.execute(query).all())

    def block(items: list[Any]) -> dict[str, Any]:
        return stats.score_stats([r.nps for r in items if r.nps is not None],
                                 [r.csat for r in items if r.csat is not None], responses=len(items), z=z)

    by_period: dict[str, list[Any]] = {}
    by_group: dict[str, list[Any]] = {}
    reasons: Counter[str] = Counter()
    field = {"tier": "tier_code", "store": "store", "channel": "channel", "locale": "locale",
             "survey": "survey_id"}.get(by or "")
    for r in rows:
        by_period.setdefault(period_key(r.submitted_at, period, zone), []).append(r)
        if by == "tag":  # a response counts once in each of the customer's tags
            for tag in r.tags or ["(none)"]:
                by_group.setdefault(str(tag), []).append(r)
        elif field:
            value = getattr(r, field)
            by_group.setdefault("(none)" if value is None else str(value), []).append(r)
        reasons.update(r.exit_reasons or [])
    trend: list[GroupStats] = []
    previous: float | None = None
    for key in sorted(by_period):
        item = GroupStats(group=key, **block(by_period[key]))
        if item.nps is not None and previous is not None:
            item.nps_change = round(item.nps - previous, 1)
        previous = item.nps if item.nps is not None else previous
        trend.append(item)
    groups = [GroupStats(group=k, **block(v)) for k, v in sorted(by_group.items())]
    counts = dict(session.execute(inv_query.group_by(SurveyInvitation.status)).all())
    invitations = sum(int(v) for v in counts.values())
    answered = int(counts.get("answered", 0))
    return SurveyResults(
        survey_id=survey_id, since=since, until=until, confidence=confidence, overall=ScoreStats(**block(rows)),
        period=period, trend=trend, by=by, groups=groups, invitations=invitations, invited_responses=answered,
        response_rate=round(100.0 * answered / invitations, 1) if invitations else None,
        exit_reasons={code: reasons[code] for code in EXIT_REASON_CODES if reasons[code]})


# ---------------------------------------------------------------------------------------------
# Customer-wide hooks: merge, GDPR export, erasure, 360 view
# ---------------------------------------------------------------------------------------------


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    for model in (SurveyResponse, SurveyInvitation):
        _rows(session, update(model).where(model.customer_id == duplicate_id).values(customer_id=survivor_id))


def _export_section(session: Session, customer_id: int) -> dict[str, Any]:
    responses = list_responses(session, customer_id=customer_id, limit=10**6)
    invitations = session.scalars(select(SurveyInvitation).where(SurveyInvitation.customer_id == customer_id)
                                  .order_by(SurveyInvitation.id))
    return {"responses": [r.model_dump(mode="json", exclude={"points"}) for r in responses],
            "invitations": [InvitationRead.model_validate(i).model_dump(mode="json") for i in invitations]}


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Free text goes (it may identify the person); scores and choices stay for the statistics."""
    now = clock.now()
    surveys: dict[int, Survey] = {}
    for row in session.scalars(select(SurveyResponse).where(SurveyResponse.customer_id == customer_id,
                                                            SurveyResponse.erased_at.is_(None))):
        survey = surveys.get(row.survey_id) or surveys.setdefault(row.survey_id, _survey_row(session, row.survey_id))
        free = {q["key"] for q in survey.questions if q["type"] == "free_text"}
        row.answers = {k: (ERASED_TEXT if k in free and v else v) for k, v in row.answers.items()}
        row.erased_at = now
    session.flush()


def _view_section(session: Session, customer_id: int) -> dict[str, Any]:
    last = list_responses(session, customer_id=customer_id, limit=1)
    total = session.scalar(select(func.count()).select_from(SurveyResponse)
                           .where(SurveyResponse.customer_id == customer_id)) or 0
    head = last[0] if last else None
    return {"responses": total, "last_surveyed_at": queries.last_contacted(session, customer_id),
            "last": None if head is None else {"survey_id": head.survey_id, "submitted_at": head.submitted_at,
                                               "nps": head.nps, "nps_category": _nps_category(head.nps),
                                               "csat": head.csat, "exit_reasons": head.exit_reasons}}


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("surveys", _export_section)
    hooks.register_view_section("surveys", _view_section)


_register_hooks()


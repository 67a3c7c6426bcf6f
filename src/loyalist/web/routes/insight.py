"""Listening pages: surveys (list, editor, personal links, results) and feedback themes.

The survey editor hands the typed questions to `surveys.service`, which validates them (types,
scales, languages, conditions) and names the failing question; segments, offers and campaigns
live in `acting.py`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from loyalist.errors import DomainError, NotFound
from loyalist.staff.sessions import ConsoleSession
from loyalist.surveys.schemas import KINDS, LOCALES, QUESTION_TYPES, SurveyCreate, SurveyUpdate
from loyalist.web import charts, domains, paging
from loyalist.web.auth import DbDep, needs, root_state
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
PAGE = 25


def _svc(name: str) -> Any:
    svc = domains.service(name)
    if svc is None:
        raise NotFound(f"the {name} module is not installed")
    return svc


def _nps_chart(trend: list[Any], title: str) -> Any:
    rows = [g for g in trend if g.nps is not None]
    if not rows:
        return None
    return charts.line_chart([g.group for g in rows], {"NPS": [g.nps for g in rows]}, title=title,
                             desc="Net Promoter Score per period (promoters minus detractors, -100 to 100).",
                             fmt=lambda v: f"{v:.0f}")


@router.get("/surveys")
def surveys(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("surveys:read"))],
            status: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc("surveys")
    errors: dict[str, str] = {}
    rows: list[Any] = []
    try:
        rows = svc.list_surveys(db, status=status or None, limit=paging.PAGE + 1, offset=offset)
    except DomainError as exc:
        errors = errors_of(exc)
    win = paging.window(rows, offset=offset, href=lambda o: url(request, "/surveys", status=status, offset=o))
    overall = svc.results(db, period="month")
    return render(request, "surveys.html", title="Surveys", items=win.items, win=win, errors=errors,
                  form={"status": status}, overall=overall, chart=_nps_chart(overall.trend, "NPS trend, all surveys"))


# ------------------------------------------------------------------------------------------ survey editor

def _survey_values(form: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {
        "name": r.text("name", required=True, max_len=200),
        "title": {loc: text for loc in LOCALES if (text := r.text(f"title_{loc}", max_len=300))},
        "questions": None, "anonymous_link": r.boolean("anonymous_link"),
        "link_valid_days": r.integer("link_valid_days", required=True, minimum=1),
        "reminder_after_days": r.integer("reminder_after_days", minimum=1),
        "max_reminders": r.integer("max_reminders", required=True, minimum=0),
        "award_points": r.boolean("award_points"),
    }
    raw = r.text("questions", required=True)
    if raw is not None:
        try:
            questions = json.loads(raw)
        except json.JSONDecodeError as exc:
            r.errors["questions"] = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        else:
            if isinstance(questions, list):
                values["questions"] = questions
            else:
                r.errors["questions"] = "must be a JSON list of questions ([{...}, ...])"
    if not values["title"]:
        r.errors["title"] = "give the title in at least one language"
    if creating:
        values["kind"] = r.text("kind") or "custom"
        values["default_locale"] = r.text("default_locale") or "en"
    else:
        values["status"] = r.text("status") or "active"
    r.check()
    return values


def _survey_errors(exc: Exception) -> dict[str, str]:
    """Service errors name a question path (questions[2].text.da) or a title language; they are
    shown at the questions box / the titles with that path, so the manager knows which one."""
    if isinstance(exc, DomainError) and exc.field and exc.field.startswith(("questions", "title")):
        return {"questions" if exc.field.startswith("questions") else "title": exc.message}
    return errors_of(exc)


def _survey_form_of(data: Any) -> dict[str, Any]:
    """SurveyCreate / SurveyRead -> the editor's field values."""
    questions = [q if isinstance(q, dict) else q.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                            exclude_defaults=True) for q in data.questions]
    form: dict[str, Any] = {
        "name": data.name, "kind": data.kind, "default_locale": data.default_locale,
        "questions": json.dumps(questions, indent=2, ensure_ascii=False),
        "link_valid_days": data.link_valid_days, "reminder_after_days": data.reminder_after_days or "",
        "max_reminders": data.max_reminders, "award_points": data.award_points,
        "anonymous_link": getattr(data, "anonymous_link", None) or bool(getattr(data, "public_token", None)),
        "status": getattr(data, "status", "active"),
    }
    for loc, text in data.title.items():
        form[f"title_{loc}"] = text
    return form


def _survey_editor(request: Request, *, survey: Any, form: dict[str, Any], status_code: int = 200,
                   errors: dict[str, str] | None = None, templates: Any = None) -> Response:
    return render(request, "survey_form.html", status_code=status_code, title=survey.name if survey else "New survey",
                  survey=survey, form=form, errors=errors or {}, locales=LOCALES,
                  locale_options=[(loc, loc) for loc in LOCALES], kind_options=[(k, k.upper()) for k in KINDS],
                  question_types=QUESTION_TYPES,
                  template_options=[(t.code, t.name) for t in templates or []])


@router.get("/surveys/new")
def survey_new(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("surveys:write"))],
               template: str = "nps", default_locale: str = "en") -> Response:
    """The editor, pre-filled from a ready template (NPS, CSAT, ... in en/ru/uk/da) to adapt."""
    svc = _svc("surveys")
    errors: dict[str, str] = {}
    try:
        form = _survey_form_of(svc.template_draft(template, default_locale=default_locale))
    except DomainError as exc:
        errors = errors_of(exc)
        form = _survey_form_of(svc.template_draft("nps"))
    form["template"] = template
    return _survey_editor(request, survey=None, form=form, errors=errors, templates=svc.list_templates(),
                          status_code=400 if errors else 200)


@router.post("/surveys/new")
async def survey_create(request: Request, db: DbDep,
                        me: Annotated[ConsoleSession, Depends(needs("surveys:write"))]) -> Response:
    svc = _svc("surveys")
    form = dict(await request.form())
    try:
        row = svc.create_survey(db, data=SurveyCreate(**_survey_values(form, creating=True)), actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return _survey_editor(request, survey=None, form=form, status_code=400, errors=_survey_errors(exc),
                              templates=svc.list_templates())
    return RedirectResponse(url(request, f"/surveys/{row.id}", flash=f"Survey “{row.name}” created."),
                            status_code=303)


@router.get("/surveys/{survey_id}/edit")
def survey_edit(request: Request, survey_id: int, db: DbDep,
                me: Annotated[ConsoleSession, Depends(needs("surveys:write"))]) -> Response:
    row = _svc("surveys").get_survey(db, survey_id)
    return _survey_editor(request, survey=row, form=_survey_form_of(row))


@router.post("/surveys/{survey_id}/edit")
async def survey_update(request: Request, survey_id: int, db: DbDep,
                        me: Annotated[ConsoleSession, Depends(needs("surveys:write"))]) -> Response:
    svc = _svc("surveys")
    current = svc.get_survey(db, survey_id)
    form = dict(await request.form())
    try:
        values = _survey_values(form, creating=False)
        if current.response_count > 0:  # answered surveys are frozen: settings only (the service refuses more)
            same = values["questions"] == current.questions and values["title"] == current.title
            if same:
                values.pop("questions")
                values.pop("title")
        row = svc.update_survey(db, survey_id=survey_id, data=SurveyUpdate(**values), actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return _survey_editor(request, survey=current, form=form, status_code=400, errors=_survey_errors(exc))
    return RedirectResponse(url(request, f"/surveys/{row.id}", flash=f"Survey “{row.name}” saved."), status_code=303)


@router.post("/surveys/{survey_id}/links")
async def survey_links(request: Request, survey_id: int, db: DbDep,
                       me: Annotated[ConsoleSession, Depends(needs("surveys:send"))]) -> Response:
    """Invite customers: each gets a personal, signed, expiring link by email or SMS (the survey
    service mints and sends it); the links are also shown once here, e.g. to read out or print."""
    svc = _svc("surveys")
    form = dict(await request.form())
    r = Reader(form)
    ids: list[int] = []
    for word in r.words("customer_ids") or []:
        if not word.isdigit():
            r.errors["customer_ids"] = f"{word!r} is not a customer number"
            break
        ids.append(int(word))
    if not ids and "customer_ids" not in r.errors:
        r.errors["customer_ids"] = "give at least one customer number"
    channel = r.text("channel") or "email"
    try:
        r.check()
        result = svc.invite(db, survey_id=survey_id, customer_ids=ids, actor=me.actor, channel=channel)
    except (FormInvalid, DomainError) as exc:
        db.rollback()
        db.begin()
        return _survey_page(request, db, survey_id, status_code=400, link_form=form,
                            link_errors=_prefixed(errors_of(exc)))
    return _survey_page(request, db, survey_id, invited=result, link_form={"channel": channel})


def _prefixed(errors: dict[str, str]) -> dict[str, str]:
    """Service fields that are not on the links form (e.g. survey_id) go to its top."""
    return {k if k in ("customer_ids", "channel") else "__all__": v for k, v in errors.items()}


def _survey_page(request: Request, db: Any, survey_id: int, *, by: str = "", offset: int = 0,
                 status_code: int = 200, invited: Any = None, link_form: dict[str, Any] | None = None,
                 link_errors: dict[str, str] | None = None) -> Response:
    svc = _svc("surveys")
    item = svc.get_survey(db, survey_id)
    errors: dict[str, str] = {}
    try:
        res = svc.results(db, survey_id=survey_id, period="month", by=by or None)
    except DomainError as exc:
        errors = errors_of(exc)
        res = svc.results(db, survey_id=survey_id, period="month")
    answers = svc.list_responses(db, survey_id=survey_id, limit=PAGE + 1, offset=offset)
    more = len(answers) > PAGE
    here = f"/surveys/{survey_id}"
    base = root_state(request).settings.public_base_url.rstrip("/")
    public_link = f"{base}/v1/public/surveys/a/{item.public_token}" if item.public_token else None
    return render(request, "survey.html", status_code=status_code, title=item.name, s=item, res=res, errors=errors,
                  form={"by": by}, answers=answers[:PAGE], chart=_nps_chart(res.trend, f"NPS trend: {item.name}"),
                  prev_href=url(request, here, by=by, offset=max(0, offset - PAGE)) if offset else None,
                  next_href=url(request, here, by=by, offset=offset + PAGE) if more else None,
                  public_link=public_link, invited=invited, link_form=link_form or {"channel": "email"},
                  link_errors=link_errors or {}, stats=svc.invitation_stats(db, survey_id))


@router.get("/surveys/{survey_id}")
def survey(request: Request, survey_id: int, db: DbDep,
           me: Annotated[ConsoleSession, Depends(needs("surveys:read"))], by: str = "",
           offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    return _survey_page(request, db, survey_id, by=by, offset=offset)


@router.get("/feedback")
def feedback(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("feedback:read"))],
             period: str = "month", sentiment: str = "", tag: str = "", language: str = "",
             offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc("feedback")
    errors: dict[str, str] = {}
    themes = page = None
    try:
        themes = domains.themes(db, period=period, language=language or None, sentiment=sentiment or None)
        page = svc.list_items(db, sentiment=sentiment or None, tag=tag or None, language=language or None,
                              limit=PAGE, offset=offset)
    except DomainError as exc:
        errors = errors_of(exc)
    chart = None
    if themes is not None and themes.rows:
        chart = charts.bar_chart([(r.code.replace("_", " "), float(r.count)) for r in themes.rows],
                                 title="Feedback themes", desc=f"Items per reason this {period} "
                                 f"({themes.total_items} items in total).")
    form = {"period": period, "sentiment": sentiment, "tag": tag, "language": language}
    return render(request, "feedback.html", title="Feedback", themes=themes, page=page, errors=errors, form=form,
                  chart=chart, page_href=lambda o: url(request, "/feedback", offset=o, **form))

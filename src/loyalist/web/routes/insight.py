"""Listening pages: surveys (list, editor, personal links, results) and feedback themes.

The survey editor hands the typed questions to `surveys.service`, which validates them (types,
scales, languages, conditions) and names the failing question; segments, offers and campaigns
live in `acting.py`."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError

from loyalist.errors import DomainError, NotFound
from loyalist.staff.sessions import ConsoleSession
from loyalist.surveys.schemas import KINDS, LOCALES, QUESTION_TYPES, Question, SurveyCreate, SurveyUpdate
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
#
# The questions are edited as rows of ordinary form fields named `q-<i>-<part>` (key, type, text
# per language, required, rating scale, choices `q-<i>-opt-<j>-code|text_<loc>`, follow-up
# `q-<i>-show_if-question|min|max|in`, link, exit reasons). Add, remove and move are submit
# buttons (`op`), so the editor works without JavaScript: every round trip re-renders the rows
# from what was posted. The rules are the surveys service's (pydantic `Question` and
# `_check_questions`); this module only turns rows into question dicts and the paths of their
# errors (`questions[2].options[1].code`) back into the row's field (`q-2-opt-1-code`).

CHOICE_TYPES = ("single_choice", "multiple_choice")
BLANK_OPTIONS = 2  # empty choice rows offered under a choice question (ignored when left empty)
MAX_ROWS = 60  # more rows than the schema allows (50) are reported by the schema, not cut silently
_ROW = re.compile(r"q-(\d+)-(.+)")


def _split(form: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The posted form as (settings fields, one dict of parts per question row, in order)."""
    base: dict[str, Any] = {}
    parts: dict[int, dict[str, Any]] = {}
    for name, value in form.items():
        m = _ROW.fullmatch(name)
        if m and int(m[1]) < MAX_ROWS:
            parts.setdefault(int(m[1]), {})[m[2]] = value
        elif not m:
            base[name] = value
    raw = str(base.pop("q_count", "") or "")
    count = min(int(raw), MAX_ROWS) if raw.isdigit() else (max(parts) + 1 if parts else 0)
    return base, [_compact_options(parts.get(i, {})) for i in range(count)]


def _compact_options(row: dict[str, Any]) -> dict[str, Any]:
    """Drop empty choice rows (the blanks offered for new choices) and renumber the rest, so the
    index in the service's error path is the index of the row on the re-rendered page."""
    kept = []
    raw = str(row.get("opt_count") or "0")
    for j in range(min(int(raw), MAX_ROWS) if raw.isdigit() else 0):
        code = str(row.get(f"opt-{j}-code") or "").strip()
        texts = {loc: str(row.get(f"opt-{j}-text_{loc}") or "").strip() for loc in LOCALES}
        if code or any(texts.values()):
            kept.append((code, texts))
    out = {k: v for k, v in row.items() if not k.startswith("opt-") and k != "opt_count"}
    for j, (code, texts) in enumerate(kept):
        out[f"opt-{j}-code"] = code
        out.update({f"opt-{j}-text_{loc}": t for loc, t in texts.items() if t})
    out["opt_count"] = len(kept)
    return out


def _join(base: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    form = {**base, "q_count": len(rows)}
    for i, row in enumerate(rows):
        form.update({f"q-{i}-{k}": v for k, v in row.items()})
    return form


def _row_of(q: dict[str, Any]) -> dict[str, Any]:
    """A question dict (template, stored survey, JSON) as the parts of one editor row."""
    row: dict[str, Any] = {"key": q.get("key") or "", "type": q.get("type") or "free_text",
                           "required": bool(q.get("required"))}
    for loc, text in (q.get("text") or {}).items():
        row[f"text_{loc}"] = text
    for name in ("min", "max", "link"):
        if q.get(name) is not None:
            row[name] = str(q[name])  # as posted: a form value 0 must not read as "empty"
    if q.get("exit_reasons"):
        row["exit_reasons"] = True
    options = q.get("options") or []
    for j, opt in enumerate(options):
        row[f"opt-{j}-code"] = opt.get("code", "")
        for loc, text in (opt.get("text") or {}).items():
            row[f"opt-{j}-text_{loc}"] = text
    row["opt_count"] = len(options)
    cond = q.get("show_if")
    if cond:
        row["show_if-question"] = cond.get("question", "")
        for name in ("min", "max"):
            if cond.get(name) is not None:
                row[f"show_if-{name}"] = str(cond[name])
        if cond.get("in") is not None:
            row["show_if-in"] = ", ".join(cond["in"])
    return row


def _questions_of(form: dict[str, Any], r: Reader) -> list[dict[str, Any]]:
    """Editor rows -> question dicts for the service; unparsable numbers are collected in `r`.
    Parts that do not apply to the row's type (choices of a rating question, ...) are not sent:
    the page does not show them either."""
    out = []
    for i in range(int(form.get("q_count") or 0)):
        p = f"q-{i}-"
        qtype = r.text(p + "type") or "free_text"
        q: dict[str, Any] = {"key": r.text(p + "key", required=True) or "", "type": qtype,
                             "text": {loc: t for loc in LOCALES if (t := r.text(f"{p}text_{loc}"))},
                             "required": r.boolean(p + "required")}
        if qtype == "rating":
            q["min"], q["max"] = r.integer(p + "min"), r.integer(p + "max")
        if qtype in CHOICE_TYPES:
            q["options"] = [{"code": r.text(f"{p}opt-{j}-code") or "",
                             "text": {loc: t for loc in LOCALES if (t := r.text(f"{p}opt-{j}-text_{loc}"))}}
                            for j in range(int(form.get(p + "opt_count") or 0))]
            q["exit_reasons"] = r.boolean(p + "exit_reasons")
        if link := r.text(p + "link"):
            q["link"] = link
        if asked := r.text(p + "show_if-question"):
            cond: dict[str, Any] = {"question": asked}
            for name in ("min", "max"):
                if (value := r.integer(f"{p}show_if-{name}")) is not None:
                    cond[name] = value
            if (codes := r.words(p + "show_if-in")) is not None:
                cond["in"] = codes
            q["show_if"] = cond
        out.append(q)
    return out


def _path(text: str) -> list[str | int]:
    """`questions[2].options[1].text.da` -> ["questions", 2, "options", 1, "text", "da"]."""
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", text)]


def _row_field(i: int, rest: list[Any]) -> str:
    """The editor field of question `i` that a service/schema error path (after `questions[i]`) names."""
    p = f"q-{i}"
    if not rest:
        return p
    head = rest[0]
    if head == "text":
        return f"{p}-text_{rest[1]}" if len(rest) > 1 and rest[1] in LOCALES else f"{p}-text"
    if head == "options":
        if len(rest) > 2 and isinstance(rest[1], int):
            j, sub = rest[1], rest[2:]
            if sub[0] == "code":
                return f"{p}-opt-{j}-code"
            if sub[0] == "text" and len(sub) > 1 and sub[1] in LOCALES:
                return f"{p}-opt-{j}-text_{sub[1]}"
        return f"{p}-options"
    if head == "show_if":
        return f"{p}-show_if-{rest[1]}" if len(rest) > 1 and rest[1] in ("question", "min", "max", "in") \
            else f"{p}-show_if"
    if head in ("key", "type", "required", "min", "max", "link", "exit_reasons"):
        return f"{p}-{head}"
    return p


def _survey_errors(exc: Exception) -> dict[str, str]:
    """Errors of the schema and the service, each at the field of the question row it names
    (`questions[2].text.da` -> the Danish text of question 3); titles at the titles."""
    def place(loc: list[Any], message: str, out: dict[str, str]) -> None:
        if loc[:1] == ["questions"] and len(loc) > 1 and isinstance(loc[1], int):
            out.setdefault(_row_field(loc[1], loc[2:]), message)
        elif loc[:1] in (["questions"], ["title"]):
            out.setdefault(str(loc[0]), message)
        else:
            out.setdefault(str(loc[0]) if loc else "__all__", message)

    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            place(list(err.get("loc", ())), str(err.get("msg", "invalid")).removeprefix("Value error, "), out)
        return out
    if isinstance(exc, DomainError) and exc.field:
        message = exc.message.removeprefix(exc.field + ":").strip()
        place(_path(exc.field), message, out)
        return out
    return errors_of(exc)


def _survey_form_of(data: Any) -> dict[str, Any]:
    """SurveyCreate / SurveyRead -> the editor's field values (settings, titles, question rows)."""
    questions = [q if isinstance(q, dict) else q.model_dump(mode="json", by_alias=True) for q in data.questions]
    form: dict[str, Any] = {
        "name": data.name, "kind": data.kind, "default_locale": data.default_locale,
        "link_valid_days": data.link_valid_days, "reminder_after_days": data.reminder_after_days or "",
        "max_reminders": data.max_reminders, "award_points": data.award_points,
        "anonymous_link": getattr(data, "anonymous_link", None) or bool(getattr(data, "public_token", None)),
        "status": getattr(data, "status", "active"),
    }
    for loc, text in data.title.items():
        form[f"title_{loc}"] = text
    return _with_json(_join(form, [_row_of(q) for q in questions]), questions)


def _with_json(form: dict[str, Any], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """The advanced view: the same questions as JSON (compact, defaults left out)."""
    shown = [{k: v for k, v in q.items() if v not in (None, [], False) or k == "required"} for q in questions]
    return {**form, "questions_json": json.dumps(shown, indent=2, ensure_ascii=False)}


def _survey_values(form: dict[str, Any], *, creating: bool, with_questions: bool = True) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {
        "name": r.text("name", required=True, max_len=200),
        "title": {loc: text for loc in LOCALES if (text := r.text(f"title_{loc}", max_len=300))},
        "anonymous_link": r.boolean("anonymous_link"),
        "link_valid_days": r.integer("link_valid_days", required=True, minimum=1),
        "reminder_after_days": r.integer("reminder_after_days", minimum=1),
        "max_reminders": r.integer("max_reminders", required=True, minimum=0),
        "award_points": r.boolean("award_points"),
    }
    if with_questions:
        values["questions"] = _questions_of(form, r)
    if not values["title"]:
        r.errors["title"] = "give the title in at least one language"
    if creating:
        values["kind"] = r.text("kind") or "custom"
        values["default_locale"] = r.text("default_locale") or "en"
    else:
        values["status"] = r.text("status") or "active"
    r.check()
    return values


def _apply_op(form: dict[str, Any], op: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Add / remove / move a question row, or replace the rows with the advanced JSON; nothing
    is saved. Returns the new form and errors (only the JSON can be wrong here)."""
    base, rows = _split(form)
    verb, _, arg = op.partition(":")
    i = int(arg) if arg.isdigit() else -1
    if verb == "add":
        keys = {str(r.get("key")) for r in rows}
        n = len(rows) + 1
        while f"q{n}" in keys:
            n += 1
        rows.append({"key": f"q{n}", "type": "free_text", "opt_count": 0})
    elif verb == "remove" and 0 <= i < len(rows):
        rows.pop(i)
    elif verb == "up" and 0 < i < len(rows):
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif verb == "down" and 0 <= i < len(rows) - 1:
        rows[i], rows[i + 1] = rows[i + 1], rows[i]
    elif verb == "json":
        raw = str(base.get("questions_json") or "").strip()
        try:
            questions = json.loads(raw)
        except json.JSONDecodeError as exc:
            return _join(base, rows), {"questions_json": f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                                         f"column {exc.colno}"}
        if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
            return _join(base, rows), {"questions_json": "must be a JSON list of questions ([{...}, ...])"}
        try:  # the schema's own shape check, so no part of the JSON is silently dropped by the rows
            TypeAdapter(list[Question]).validate_python(questions)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            return _join(base, rows), {"questions_json": f"questions{where}: {err['msg']}"}
        rows = [_row_of(q) for q in questions]
    else:
        return _join(base, rows), {"__all__": f"unknown editor action {op!r}"}
    return _join(base, rows), {}


def _editor_rows(form: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """What the template needs per question row: its type's parts, the earlier keys a follow-up
    may name, and the errors that have no field of their own on the row (shown at its top)."""
    rows: list[dict[str, Any]] = []
    earlier: list[str] = []
    for i in range(int(form.get("q_count") or 0)):
        p = f"q-{i}-"
        qtype = str(form.get(p + "type") or "free_text")
        choice, rating = qtype in CHOICE_TYPES, qtype == "rating"
        # Every row carries its scale and choice parts; the page hides those its type does not use
        # (console.js shows them when the type changes, so no round trip is needed; the service is
        # sent only the parts of the submitted type, see _questions_of).
        options = (int(form.get(p + "opt_count") or 0) if choice else 0) + BLANK_OPTIONS
        shown = {"key", "type", "required", "text", "link", *(f"text_{loc}" for loc in LOCALES)}
        if rating:
            shown |= {"min", "max"}
        if choice:
            shown |= {"options", "exit_reasons"} | {f"opt-{j}-code" for j in range(options)}
            shown |= {f"opt-{j}-text_{loc}" for j in range(options) for loc in LOCALES}
        asked = str(form.get(p + "show_if-question") or "")
        follow = i > 0 or bool(asked)  # the first question has nothing earlier, unless moved up with one
        if follow:
            shown |= {"show_if", "show_if-question", "show_if-min", "show_if-max", "show_if-in"}
        mine = {k: v for k, v in errors.items() if k == p[:-1] or k.startswith(p)}
        targets = [(k, k) for k in earlier] + ([(asked, f"{asked} (not an earlier question)")]
                                               if asked and asked not in earlier else [])
        rows.append({"i": i, "p": p, "type": qtype, "choice": choice, "rating": rating, "options": range(options),
                     "follow": follow, "targets": targets, "has_error": bool(mine),
                     "row_errors": [v for k, v in mine.items() if k.removeprefix(p) not in shown]})
        earlier.append(str(form.get(p + "key") or ""))
    return rows


def _survey_editor(request: Request, *, survey: Any, form: dict[str, Any], status_code: int = 200,
                   errors: dict[str, str] | None = None, templates: Any = None) -> Response:
    errors = errors or {}
    return render(request, "survey_form.html", status_code=status_code, title=survey.name if survey else "New survey",
                  survey=survey, form=form, errors=errors, locales=LOCALES, rows=_editor_rows(form, errors),
                  frozen=bool(survey and survey.response_count),
                  locale_options=[(loc, loc) for loc in LOCALES], kind_options=[(k, k.upper()) for k in KINDS],
                  question_types=QUESTION_TYPES, choice_types=CHOICE_TYPES,
                  type_options=[(t, t.replace("_", " ")) for t in QUESTION_TYPES],
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


async def _posted(request: Request, *, frozen: bool = False) -> tuple[dict[str, Any], str]:
    """The posted editor form with its choice rows compacted, and the editor action (`op`)."""
    raw = dict(await request.form())
    op = str(raw.pop("op", "") or "save")
    if frozen:  # the rows are not on the page of an answered survey
        return {k: v for k, v in raw.items() if not _ROW.fullmatch(k) and k != "q_count"}, op
    base, rows = _split(raw)
    return _join(base, rows), op


@router.post("/surveys/new")
async def survey_create(request: Request, db: DbDep,
                        me: Annotated[ConsoleSession, Depends(needs("surveys:write"))]) -> Response:
    svc = _svc("surveys")
    form, op = await _posted(request)
    if op != "save":
        form, errors = _apply_op(form, op)
        return _survey_editor(request, survey=None, form=form, errors=errors, status_code=400 if errors else 200,
                              templates=svc.list_templates())
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
    frozen = current.response_count > 0
    form, op = await _posted(request, frozen=frozen)
    if frozen:  # answered surveys are frozen: settings only (the service refuses more)
        form = {**_survey_form_of(current), **form}
    if op != "save":
        form, errors = _apply_op(form, op)
        return _survey_editor(request, survey=current, form=form, errors=errors, status_code=400 if errors else 200)
    try:
        values = _survey_values(form, creating=False, with_questions=not frozen)
        if frozen and values["title"] == current.title:
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

"""Surveys: definitions and templates, invitations, staff-entered answers, results (staff API);
answering by personal signed link or anonymous link under /v1/public/surveys (no API key: the
link itself is the credential). A browser opening a link gets a plain HTML form (follow-up
questions shown and hidden by a few lines of script; without script every question is shown and
answers to questions whose condition is not met are ignored); API clients get JSON."""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from loyalist.api.deps import Permit, SessionDep
from loyalist.api.ratelimit import Limit
from loyalist.config import get_settings
from loyalist.errors import DomainError
from loyalist.surveys import service
from loyalist.surveys.schemas import (
    AnswerSubmit,
    FromTemplate,
    InvitationRead,
    InvitationStats,
    InviteRequest,
    InviteResult,
    PublicSurvey,
    ResponseRead,
    StaffAnswerSubmit,
    SurveyCreate,
    SurveyRead,
    SurveyResults,
    SurveyUpdate,
    TemplateInfo,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["surveys"])
# public (signed or anonymous link) endpoints are rate limited per client address
PUBLIC_READS = Limit("public-read", limit=120, per=timedelta(minutes=1))
PUBLIC_ANSWERS = Limit("public-write", limit=30, per=timedelta(minutes=1))


@router.get("/survey-templates", response_model=list[TemplateInfo])
def list_templates(actor: Annotated[Actor, Permit("surveys:read")]) -> list[TemplateInfo]:
    """Ready templates (NPS, post-purchase CSAT, relationship questionnaire, exit interview)."""
    return service.list_templates()


@router.get("/surveys", response_model=list[SurveyRead])
def list_surveys(session: SessionDep, actor: Annotated[Actor, Permit("surveys:read")],
                 status: Literal["active", "closed"] | None = None) -> list[SurveyRead]:
    return service.list_surveys(session, status=status)


@router.post("/surveys", status_code=201, response_model=SurveyRead)
def create_survey(body: SurveyCreate, session: SessionDep,
                  actor: Annotated[Actor, Permit("surveys:write")]) -> SurveyRead:
    return service.create_survey(session, data=body, actor=actor)


@router.post("/surveys/from-template", status_code=201, response_model=SurveyRead)
def create_from_template(body: FromTemplate, session: SessionDep,
                         actor: Annotated[Actor, Permit("surveys:write")]) -> SurveyRead:
    return service.create_from_template(session, data=body, actor=actor)


@router.get("/surveys/{survey_id}", response_model=SurveyRead)
def get_survey(survey_id: int, session: SessionDep, actor: Annotated[Actor, Permit("surveys:read")]) -> SurveyRead:
    return service.get_survey(session, survey_id)


@router.patch("/surveys/{survey_id}", response_model=SurveyRead)
def update_survey(survey_id: int, body: SurveyUpdate, session: SessionDep,
                  actor: Annotated[Actor, Permit("surveys:write")]) -> SurveyRead:
    """Questions and title change only while unanswered; afterwards use /versions."""
    return service.update_survey(session, survey_id=survey_id, data=body, actor=actor)


@router.post("/surveys/{survey_id}/versions", status_code=201, response_model=SurveyRead)
def new_version(survey_id: int, session: SessionDep,
                actor: Annotated[Actor, Permit("surveys:write")]) -> SurveyRead:
    """Copy into version + 1 (editable) and close this one."""
    return service.new_version(session, survey_id=survey_id, actor=actor)


@router.post("/surveys/{survey_id}/invitations", status_code=201, response_model=InviteResult)
def invite(survey_id: int, body: InviteRequest, session: SessionDep,
           actor: Annotated[Actor, Permit("surveys:send")]) -> InviteResult:
    """Send personal links; skipped customers (fatigue cap, already invited, inactive) are
    recorded with the reason."""
    return service.invite(session, survey_id=survey_id, customer_ids=body.customer_ids, actor=actor,
                          channel=body.channel, fatigue_days=body.fatigue_days)


@router.get("/surveys/{survey_id}/invitations", response_model=list[InvitationRead])
def list_invitations(survey_id: int, session: SessionDep, actor: Annotated[Actor, Permit("surveys:read")],
                     status: Literal["sent", "answered", "skipped"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                     offset: Annotated[int, Query(ge=0)] = 0) -> list[InvitationRead]:
    return service.list_invitations(session, survey_id=survey_id, status=status, limit=limit, offset=offset)


@router.get("/surveys/{survey_id}/invitation-stats", response_model=InvitationStats)
def invitation_stats(survey_id: int, session: SessionDep,
                     actor: Annotated[Actor, Permit("surveys:read")]) -> InvitationStats:
    """Invitations by status and skip reason (fatigue cap, already invited, inactive)."""
    return service.invitation_stats(session, survey_id)


@router.post("/surveys/{survey_id}/responses", status_code=201, response_model=ResponseRead)
def submit_staff(survey_id: int, body: StaffAnswerSubmit, session: SessionDep,
                 actor: Annotated[Actor, Permit("surveys:send")]) -> ResponseRead:
    """Answers taken by staff (phone, in store) or sent by an integration."""
    return service.submit_response(session, survey_id=survey_id, customer_id=body.customer_id,
                                   answers=body.answers, channel=body.channel, actor=actor, locale=body.locale)


@router.get("/surveys/{survey_id}/responses", response_model=list[ResponseRead])
def list_responses(survey_id: int, session: SessionDep, actor: Annotated[Actor, Permit("surveys:read")],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[ResponseRead]:
    service.get_survey(session, survey_id)
    return service.list_responses(session, survey_id=survey_id, limit=limit, offset=offset)


@router.get("/survey-results", response_model=SurveyResults)
def results(session: SessionDep, actor: Annotated[Actor, Permit("surveys:read")],
            survey_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
            period: Literal["week", "month", "quarter"] = "month",
            by: Literal["tier", "tag", "store", "channel", "locale", "survey"] | None = None,
            confidence: Annotated[float, Query(ge=0.5, lt=1)] = 0.95) -> SurveyResults:
    """NPS and CSAT with confidence intervals, trend per period, groups, response rate, exit reasons."""
    return service.results(session, survey_id=survey_id, since=since, until=until, period=period, by=by,
                           confidence=confidence)


# --------------------------------------------------------------------------- public answering

UI = {
    "en": {"send": "Send", "thanks": "Thank you for your answers!", "review": "Leave your review here",
           "error": "Please check your answers", "gone": "This survey link cannot be used"},
    "ru": {"send": "Отправить", "thanks": "Спасибо за ваши ответы!", "review": "Оставить отзыв можно здесь",
           "error": "Пожалуйста, проверьте ответы", "gone": "Эту ссылку на опрос нельзя использовать"},
    "uk": {"send": "Надіслати", "thanks": "Дякуємо за ваші відповіді!", "review": "Залишити відгук можна тут",
           "error": "Будь ласка, перевірте відповіді", "gone": "Це посилання на опитування не можна використати"},
    "da": {"send": "Send", "thanks": "Tak for dine svar!", "review": "Skriv din anmeldelse her",
           "error": "Tjek venligst dine svar", "gone": "Dette link til undersøgelsen kan ikke bruges"},
}

# Shows a follow-up only while its condition holds (progressive enhancement; see module doc).
SCRIPT = """<script>
(function(){var f=document.querySelector('form');if(!f)return;
function val(k){var els=f.querySelectorAll('[name="'+k+'"]'),out=[];els.forEach(function(e){
if((e.type==='radio'||e.type==='checkbox')?e.checked:e.value)out.push(e.value);});return out;}
function upd(){f.querySelectorAll('[data-cond]').forEach(function(el){
var c=JSON.parse(el.dataset.cond),v=val(c.question),ok=false;
if(c['in']){ok=v.some(function(x){return c['in'].indexOf(x)>=0;});}else if(v.length){var n=+v[0];
ok=(c.min==null||n>=c.min)&&(c.max==null||n<=c.max);}el.hidden=!ok;});}
f.addEventListener('change',upd);upd();})();
</script>"""


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(title: str, body: str, locale: str) -> HTMLResponse:
    business = html.escape(get_settings().business_name)
    return HTMLResponse(
        f"<!doctype html><html lang='{html.escape(locale)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;max-width:40rem;"
        f"margin:2rem auto;padding:0 1rem'><h1>{html.escape(title)}</h1>{body}<p><small>{business}</small></p>"
        "</body></html>")


def _form_html(survey: PublicSurvey, action: str, values: dict[str, list[str]], error: str | None) -> str:
    ui = UI.get(survey.locale, UI["en"])
    parts = [f"<p role='alert' style='color:#b00'><strong>{html.escape(ui['error'])}:</strong> "
             f"{html.escape(error)}</p>"] if error else []
    parts.append(f"<form method='post' action='{html.escape(action, quote=True)}'>")
    for q in survey.questions:
        cond = ""
        if q.show_if:
            cond = f" data-cond='{html.escape(json.dumps(q.show_if), quote=True)}'"
        star = " *" if q.required else ""
        parts.append(f"<fieldset{cond} style='border:0;padding:0;margin:0 0 1.5rem'>"
                     f"<legend><strong>{html.escape(q.text)}{star}</strong></legend>")
        if q.link:
            link = html.escape(q.link, quote=True)
            parts.append(f"<p><a href='{link}' rel='noopener' target='_blank'>{link}</a></p>")
        chosen = set(values.get(q.key, []))
        name = html.escape(q.key, quote=True)
        if q.type == "free_text":
            text = html.escape(next(iter(values.get(q.key, [])), ""))
            parts.append(f"<textarea name='{name}' rows='4' style='width:100%' maxlength='5000'>{text}</textarea>")
        elif q.type in ("single_choice", "multiple_choice"):
            kind = "radio" if q.type == "single_choice" else "checkbox"
            for o in q.options:
                code = html.escape(o["code"], quote=True)
                checked = " checked" if o["code"] in chosen else ""
                parts.append(f"<label style='display:block'><input type='{kind}' name='{name}' value='{code}'"
                             f"{checked}> {html.escape(o['text'])}</label>")
        else:
            for n in range(q.min or 0, (q.max or 0) + 1):
                checked = " checked" if str(n) in chosen else ""
                parts.append(f"<label style='margin-right:.6rem;white-space:nowrap'><input type='radio' "
                             f"name='{name}' value='{n}'{checked}> {n}</label>")
        parts.append("</fieldset>")
    parts.append(f"<button type='submit'>{html.escape(ui['send'])}</button></form>{SCRIPT}")
    return "".join(parts)


def _answers_from_form(survey: PublicSurvey, form: dict[str, list[str]]) -> dict[str, Any]:
    """Form fields -> typed answers; answers to follow-ups whose condition is not met are dropped
    (without script the browser shows every question)."""
    answers: dict[str, Any] = {}
    for q in survey.questions:
        raw = [v for v in form.get(q.key, []) if v.strip()]
        if not raw:
            continue
        if q.type == "multiple_choice":
            value: Any = raw
        elif q.type in ("nps", "csat", "ces", "rating"):
            value = int(raw[0]) if raw[0].strip().lstrip("-").isdigit() else raw[0]
        else:
            value = raw[0]
        if service.is_shown(q.show_if, answers):
            answers[q.key] = value
    return answers


async def _form(request: Request) -> dict[str, list[str]]:
    data = await request.form()
    return {k: [v for v in data.getlist(k) if isinstance(v, str)] for k in data.keys()}


def _thanks(survey: PublicSurvey, response: ResponseRead) -> HTMLResponse:
    ui = UI.get(survey.locale, UI["en"])
    body = ""
    for q in survey.questions:
        if q.link and response.answers.get(q.key) == "yes":
            link = html.escape(q.link, quote=True)
            body += f"<p>{html.escape(ui['review'])}: <a href='{link}' rel='noopener'>{link}</a></p>"
    return _page(ui["thanks"], body, survey.locale)


def _refused(exc: DomainError, locale: str = "en") -> HTMLResponse:
    ui = UI.get(locale, UI["en"])
    page = _page(ui["gone"], f"<p>{html.escape(exc.message)}</p>", locale)
    page.status_code = exc.status_code
    return page


@router.get("/public/surveys/i/{token}", dependencies=[Depends(PUBLIC_READS)], response_model=PublicSurvey)
def open_invitation(token: str, request: Request, session: SessionDep) -> PublicSurvey | HTMLResponse:
    """A personal link: the survey in the customer's language (a GET writes nothing).
    Browsers get the HTML form."""
    if not _wants_html(request):
        return service.open_invitation(session, token=token)
    try:
        survey = service.open_invitation(session, token=token)
    except DomainError as exc:
        return _refused(exc)
    return _page(survey.title, _form_html(survey, f"{token}/form", {}, None), survey.locale)


@router.post("/public/surveys/i/{token}", status_code=201, response_model=ResponseRead,
              dependencies=[Depends(PUBLIC_ANSWERS)])
def answer_invitation(token: str, body: AnswerSubmit, session: SessionDep) -> ResponseRead:
    """Submit once: a second submit with the same link is refused (403) and changes nothing."""
    return service.submit_by_token(session, token=token, answers=body.answers)


@router.post("/public/surveys/i/{token}/form", dependencies=[Depends(PUBLIC_ANSWERS)], response_class=HTMLResponse)
def answer_invitation_form(token: str, form: Annotated[dict[str, list[str]], Depends(_form)],
                           session: SessionDep) -> HTMLResponse:
    """The HTML form's target: a thank-you page, or the form again with the error."""
    try:
        survey = service.open_invitation(session, token=token)
    except DomainError as exc:
        return _refused(exc)
    try:
        response = service.submit_by_token(session, token=token, answers=_answers_from_form(survey, form))
    except DomainError as exc:
        page = _page(survey.title, _form_html(survey, "form", form, exc.message), survey.locale)
        page.status_code = exc.status_code
        return page
    return _thanks(survey, response)


@router.get("/public/surveys/a/{public_token}", dependencies=[Depends(PUBLIC_READS)], response_model=PublicSurvey)
def open_anonymous(public_token: str, request: Request, session: SessionDep,
                   locale: str | None = None) -> PublicSurvey | HTMLResponse:
    if not _wants_html(request):
        return service.open_anonymous(session, public_token=public_token, locale=locale)
    try:
        survey = service.open_anonymous(session, public_token=public_token, locale=locale)
    except DomainError as exc:
        return _refused(exc)
    action = f"{public_token}/form" + (f"?locale={survey.locale}" if locale else "")
    return _page(survey.title, _form_html(survey, action, {}, None), survey.locale)


@router.post("/public/surveys/a/{public_token}", status_code=201, response_model=ResponseRead,
              dependencies=[Depends(PUBLIC_ANSWERS)])
def answer_anonymous(public_token: str, body: AnswerSubmit, session: SessionDep,
                     locale: str | None = None) -> ResponseRead:
    return service.submit_anonymous(session, public_token=public_token, answers=body.answers, locale=locale)


@router.post("/public/surveys/a/{public_token}/form", response_class=HTMLResponse,
              dependencies=[Depends(PUBLIC_ANSWERS)])
def answer_anonymous_form(public_token: str, form: Annotated[dict[str, list[str]], Depends(_form)],
                          session: SessionDep, locale: str | None = None) -> HTMLResponse:
    try:
        survey = service.open_anonymous(session, public_token=public_token, locale=locale)
    except DomainError as exc:
        return _refused(exc)
    try:
        response = service.submit_anonymous(session, public_token=public_token,
                                            answers=_answers_from_form(survey, form), locale=survey.locale)
    except DomainError as exc:
        page = _page(survey.title, _form_html(survey, "form" + (f"?locale={survey.locale}" if locale else ""),
                                              form, exc.message), survey.locale)
        page.status_code = exc.status_code
        return page
    return _thanks(survey, response)

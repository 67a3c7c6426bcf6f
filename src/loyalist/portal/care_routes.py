"""Complaints as cases the customer can follow, and surveys answered in the portal.

A customer reaches a case only through their own list; a case id of someone else answers 404
(the same as a case that does not exist), so ids cannot be probed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from loyalist.api.deps import SessionDep
from loyalist.cases import service as cases
from loyalist.customer_auth.service import customer_actor
from loyalist.errors import DomainError, NotFound
from loyalist.offers import service as offers
from loyalist.portal.i18n import KEYS
from loyalist.portal.render import current, page, redirect, require_csrf
from loyalist.surveys import service as surveys

router = APIRouter(prefix="/portal", include_in_schema=False)


def _categories(session: SessionDep, language: str) -> list[tuple[str, str]]:
    """(code, label) of the active case categories, labelled in the customer's language when known."""
    from loyalist.portal.i18n import translate

    return [(c.code, translate(language, f"cat_{c.code}") if f"cat_{c.code}" in KEYS else c.name)
            for c in cases.list_categories(session, active_only=True)]


def _complaints(request: Request, session: SessionDep, me, *, errors=None, form=None, notice=None,  # type: ignore[no-untyped-def]
                status_code: int = 200) -> Response:
    return page(request, "complaints.html", language=me.language, me=me,
                cases=cases.list_cases_for_customer(session, me.customer_id),
                categories=_categories(session, me.language), errors=errors or {}, form=form or {}, notice=notice,
                status_code=status_code)


@router.get("/complaints")
def complaints(request: Request, session: SessionDep) -> Response:
    return _complaints(request, session, current(request, session))


@router.post("/complaints")
def complain(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
             category: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "",
             description: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    form = {"category": category, "subject": subject, "description": description}
    try:
        case = cases.open_case(session, customer_id=me.customer_id, channel="portal", category=category,
                               severity="normal", subject=subject, description=description,
                               actor=customer_actor(me.customer_id))
    except DomainError as exc:
        return _complaints(request, session, me, errors={exc.field or "description": str(exc)}, form=form,
                           status_code=422)
    return redirect(f"/portal/complaints/{case.id}?opened=1")


def _case_page(request: Request, session: SessionDep, me, case_id: int, **extra) -> Response:  # type: ignore[no-untyped-def]
    try:
        case = cases.get_customer_case(session, case_id=case_id, customer_id=me.customer_id)
    except NotFound:
        return page(request, "not_found.html", language=me.language, me=me, status_code=404)
    return page(request, "case.html", language=me.language, me=me, case=case,
                opened=request.query_params.get("opened") == "1", errors=extra.pop("errors", {}), **extra)


@router.get("/complaints/{case_id}")
def case_detail(request: Request, session: SessionDep, case_id: int) -> Response:
    me = current(request, session)
    return _case_page(request, session, me, case_id)


@router.post("/complaints/{case_id}/reply")
def case_reply(request: Request, session: SessionDep, case_id: int, csrf: Annotated[str, Form()] = "",
               text: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    try:
        cases.customer_reply(session, case_id=case_id, customer_id=me.customer_id, text=text,
                             actor=customer_actor(me.customer_id))
    except NotFound:
        return page(request, "not_found.html", language=me.language, me=me, status_code=404)
    except DomainError as exc:
        return _case_page(request, session, me, case_id, errors={"text": str(exc)}, status_code=422)
    return _case_page(request, session, me, case_id, notice="saved")


# --------------------------------------------------------------------------- surveys

def _pending(session: SessionDep, me, survey_id: int):  # type: ignore[no-untyped-def]
    return next((p for p in surveys.pending_for_customer(session, customer_id=me.customer_id)
                 if p.survey_id == survey_id), None)


def _form_answers(form, questions) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Answers from a submitted form: lists for multiple choice, text otherwise; blanks dropped."""
    answers: dict[str, object] = {}
    for q in questions:
        if q.type == "multiple_choice":
            chosen = [str(v) for v in form.getlist(f"q_{q.key}")]
            if chosen:
                answers[q.key] = chosen
        else:
            value = str(form.get(f"q_{q.key}") or "").strip()
            if value:
                answers[q.key] = value
    return answers


def _visible(questions, answers: dict[str, object]) -> list:  # type: ignore[no-untyped-def]
    """Questions asked given the answers so far (numbers compared as numbers)."""
    typed = {k: (int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v) for k, v in answers.items()}
    return [q for q in questions if surveys.is_shown(q.show_if, typed)]


@router.get("/surveys")
def survey_list(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    return page(request, "surveys.html", language=me.language, me=me,
                pending=surveys.pending_for_customer(session, customer_id=me.customer_id),
                done=request.query_params.get("done") == "1")


@router.get("/surveys/{survey_id}")
def survey_form(request: Request, session: SessionDep, survey_id: int) -> Response:
    me = current(request, session)
    invitation = _pending(session, me, survey_id)
    if invitation is None:
        return page(request, "not_found.html", language=me.language, me=me, status_code=404)
    survey = surveys.public_survey(session, survey_id=survey_id, locale=invitation.locale)
    return page(request, "survey.html", language=me.language, me=me, survey=survey,
                questions=_visible(survey.questions, {}), answers={}, errors={}, follow_up=False)


@router.post("/surveys/{survey_id}")
async def survey_submit(request: Request, session: SessionDep, survey_id: int) -> Response:
    """Without JavaScript, follow-ups are a second step: when the answers open questions the
    customer has not seen yet, the page comes back with them (earlier answers kept); otherwise
    the answers are submitted, which consumes the invitation."""
    me = current(request, session)
    form = await request.form()
    require_csrf(me, str(form.get("csrf") or ""))
    invitation = _pending(session, me, survey_id)
    if invitation is None:
        return page(request, "not_found.html", language=me.language, me=me, status_code=404)
    survey = surveys.public_survey(session, survey_id=survey_id, locale=invitation.locale)
    presented = set(str(form.get("presented") or "").split(","))
    answers = _form_answers(form, survey.questions)
    visible = _visible(survey.questions, answers)
    answers = {k: v for k, v in answers.items() if k in {q.key for q in visible}}
    if any(q.key not in presented for q in visible):
        return page(request, "survey.html", language=me.language, me=me, survey=survey, questions=visible,
                    answers=answers, errors={}, follow_up=True)
    try:
        surveys.submit_response(session, survey_id=survey_id, customer_id=me.customer_id, answers=answers,
                                channel="portal", locale=invitation.locale, actor=customer_actor(me.customer_id))
    except DomainError as exc:
        key = (exc.field or "").removeprefix("answers.")
        return page(request, "survey.html", language=me.language, me=me, survey=survey, questions=visible,
                    answers=answers, errors={key or "form": str(exc)}, follow_up=False, status_code=422)
    return redirect("/portal/surveys?done=1")


# --------------------------------------------------------------------------- personal offers

OFFERS_PAGE = 20


def _offers(request: Request, session: SessionDep, me, page_no: int = 1, **extra) -> Response:  # type: ignore[no-untyped-def]
    """Newest first, paged in the database (one row more than shown tells whether a next page exists)."""
    page_no = max(1, min(page_no, 10**6))
    rows = offers.list_customer_offers(session, me.customer_id, limit=OFFERS_PAGE + 1,
                                       offset=(page_no - 1) * OFFERS_PAGE)
    return page(request, "offers.html", language=me.language, me=me, offers=rows[:OFFERS_PAGE], page_no=page_no,
                has_next=len(rows) > OFFERS_PAGE, **extra)


@router.get("/offers")
def offer_list(request: Request, session: SessionDep, page_no: int = 1) -> Response:
    return _offers(request, session, current(request, session), page_no=page_no)


@router.post("/offers/{issue_id}/claim")
def offer_claim(request: Request, session: SessionDep, issue_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    try:
        offers.claim(session, issue_id=issue_id, customer_id=me.customer_id, actor=customer_actor(me.customer_id))
    except NotFound:
        return page(request, "not_found.html", language=me.language, me=me, status_code=404)
    except DomainError as exc:
        return _offers(request, session, me, error=str(exc), status_code=409)
    return _offers(request, session, me, notice="saved")


@router.post("/offers/{offer_id}/rsvp")
def offer_rsvp(request: Request, session: SessionDep, offer_id: int, csrf: Annotated[str, Form()] = "",
               response: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    try:
        offers.rsvp(session, offer_id=offer_id, customer_id=me.customer_id, response=response,
                    actor=customer_actor(me.customer_id))
    except DomainError as exc:  # no invitation of this customer: the same answer as a wrong id
        return _offers(request, session, me, error=str(exc), status_code=409)
    return _offers(request, session, me, notice="saved")

"""Personal signed links (tampering, expiry, single use), conditional follow-ups, required
answers, the timeline row, and points awarded exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.errors import InvalidState, InvalidToken, ValidationFailed
from loyalist.events.models import Event
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.surveys import service
from loyalist.surveys.models import Survey, SurveyInvitation, SurveyResponse
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer


def _token(result, cid: int) -> str:
    return result.links[cid].rsplit("/", 1)[1]


def _counts(session) -> tuple[int, int, int, int]:
    return (session.scalar(select(func.count()).select_from(SurveyResponse)),
            session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind == "survey_answer")),
            session.scalar(select(func.count()).select_from(Event).where(Event.type == "survey_completed")),
            session.scalar(select(func.count()).select_from(SurveyInvitation)
                           .where(SurveyInvitation.status == "answered")))


def test_personal_link_answers_once_and_lands_on_the_timeline(session, actor, nps_survey, survey_points_rule) -> None:
    cid = make_customer(session, actor, locale="da-DK")
    sent = service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor)
    token = _token(sent, cid)

    shown = service.open_invitation(session, token=token)
    assert shown.locale == "da"
    assert shown.questions[0].text == "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?"
    assert shown.questions[0].min == 0 and shown.questions[0].max == 10
    assert shown.questions[1].show_if == {"question": "score", "min": 0, "max": 6}

    resp = service.submit_by_token(session, token=token, answers={"score": 3, "better": "Faster delivery"})
    assert (resp.customer_id, resp.nps, resp.channel, resp.locale, resp.points) == (cid, 3, "web", "da", 25)
    assert resp.answers == {"score": 3, "better": "Faster delivery"}

    row = session.scalar(select(Interaction).where(Interaction.customer_id == cid,
                                                   Interaction.source_type == "survey_response"))
    assert row.kind == "survey_answer" and row.channel == "web" and row.direction == "inbound"
    assert row.data == {"survey_id": nps_survey.id, "response_id": resp.id, "nps": 3,
                        "nps_category": "detractor", "csat": None, "exit_reasons": []}
    assert ledger.get_balance(session, cid).available == 25
    inv = session.get(SurveyInvitation, sent.invitations[0].id)
    assert (inv.status, inv.response_id) == ("answered", resp.id)

    before = _counts(session)
    with pytest.raises(InvalidToken, match="already been used"):
        service.submit_by_token(session, token=token, answers={"score": 10})
    with pytest.raises(InvalidToken, match="already been used"):
        service.open_invitation(session, token=token)
    assert _counts(session) == before
    assert ledger.get_balance(session, cid).available == 25
    assert session.get(Survey, nps_survey.id).response_count == 1


def test_tampered_and_expired_links_are_refused(session, actor, nps_survey) -> None:
    cid = make_customer(session, actor)
    sent = service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor)
    token = _token(sent, cid)
    body, mac = token.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    before = _counts(session)
    with pytest.raises(InvalidToken, match="signature"):
        service.submit_by_token(session, token=forged, answers={"score": 9})
    with pytest.raises(InvalidToken, match="malformed"):
        service.submit_by_token(session, token="not-a-token", answers={"score": 9})
    with clock.frozen_at(clock.now() + timedelta(days=nps_survey.link_valid_days, seconds=1)):
        with pytest.raises(InvalidToken, match="expired"):
            service.submit_by_token(session, token=token, answers={"score": 9})
    assert _counts(session) == before
    assert session.get(SurveyInvitation, sent.invitations[0].id).status == "sent"


def test_link_of_another_customer_or_survey_is_refused(session, actor, nps_survey) -> None:
    a, b = make_customer(session, actor), make_customer(session, actor)
    other = service.create_from_template(session, data=FromTemplate(template="csat_post_purchase"), actor=actor)
    token = _token(service.invite(session, survey_id=nps_survey.id, customer_ids=[a], actor=actor), a)
    before = _counts(session)
    with pytest.raises(InvalidToken, match="another customer"):
        service.submit_response(session, survey_id=nps_survey.id, customer_id=b, answers={"score": 9},
                                channel="portal", invitation_token=token, actor=actor)
    with pytest.raises(InvalidToken, match="another survey"):
        service.submit_response(session, survey_id=other.id, customer_id=None, answers={"satisfaction": 5},
                                channel="web", invitation_token=token, actor=actor)
    assert _counts(session) == before


def test_conditional_follow_ups(session, actor, nps_survey) -> None:
    q = session.get(Survey, nps_survey.id).questions
    assert service.validate_answers(q, {"score": 2, "better": " More staff "}) == {"score": 2, "better": "More staff"}
    assert service.validate_answers(q, {"score": 8, "raise": "Lower prices"}) == {"score": 8, "raise": "Lower prices"}
    assert service.validate_answers(q, {"score": 10, "review": "yes"}) == {"score": 10, "review": "yes"}
    with pytest.raises(ValidationFailed, match="answers.better: not asked") as e:
        service.validate_answers(q, {"score": 10, "better": "x"})
    assert e.value.field == "answers.better"
    with pytest.raises(ValidationFailed, match="answers.review: not asked"):
        service.validate_answers(q, {"score": 5, "review": "yes"})
    promoter_q = next(x for x in service.public_survey(session, survey_id=nps_survey.id).questions
                      if x.key == "review")
    assert promoter_q.link == "https://reviews.example.org/shop"
    assert promoter_q.show_if == {"question": "score", "min": 9, "max": 10}


def test_required_and_typed_answers_name_the_question(session, actor, nps_survey) -> None:
    q = session.get(Survey, nps_survey.id).questions
    cases = [({}, "answers.score", "required"), ({"score": 11}, "answers.score", "from 0 to 10"),
             ({"score": True}, "answers.score", "whole number"), ({"score": 9, "review": "maybe"},
                                                                 "answers.review", "one of"),
             ({"score": 9, "nope": 1}, "answers.nope", "no such question"),
             ({"score": 1, "better": 5}, "answers.better", "must be text")]
    for answers, field, words in cases:
        with pytest.raises(ValidationFailed, match=words) as e:
            service.validate_answers(q, answers)
        assert e.value.field == field
    cid = make_customer(session, actor)
    before = _counts(session)
    with pytest.raises(ValidationFailed):
        service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={}, channel="portal",
                                actor=actor)
    assert _counts(session) == before


def test_exit_interview_reasons_and_choice_conditions(session, actor) -> None:
    survey = service.create_from_template(session, data=FromTemplate(template="exit_interview"), actor=actor)
    cid = make_customer(session, actor, locale="uk")
    resp = service.submit_response(
        session, survey_id=survey.id, customer_id=cid, channel="phone", actor=actor,
        answers={"reasons": ["competitor_offer", "price", "price"], "competitor": "Cheaper elsewhere"})
    assert resp.exit_reasons == ["price", "competitor_offer"]  # option order, deduplicated
    assert resp.locale == "uk"
    with pytest.raises(ValidationFailed, match="answers.competitor: not asked"):
        service.submit_response(session, survey_id=survey.id, customer_id=cid, channel="phone", actor=actor,
                                answers={"reasons": ["price"], "competitor": "x"})
    with pytest.raises(ValidationFailed, match="unknown option"):
        service.submit_response(session, survey_id=survey.id, customer_id=cid, channel="phone", actor=actor,
                                answers={"reasons": ["weather"]})
    row = session.scalar(select(Interaction).where(Interaction.source_type == "survey_response",
                                                   Interaction.source_id == str(resp.id)))
    assert row.channel == "phone"
    assert row.data["exit_reasons"] == ["price", "competitor_offer"] and row.data["nps_category"] is None


def test_portal_points_once_per_customer_and_survey(session, actor, nps_survey, survey_points_rule) -> None:
    cid = make_customer(session, actor)
    first = service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": 9},
                                    channel="portal", actor=actor)
    again = service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": 10},
                                    channel="portal", actor=actor)
    assert (first.points, again.points) == (25, 0)
    assert ledger.get_balance(session, cid).available == 25
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "survey_completed")) == 1


def test_portal_answer_consumes_the_open_invitation(session, actor, nps_survey, survey_points_rule) -> None:
    cid = make_customer(session, actor, locale="ru")
    sent = service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor)
    [pending] = service.pending_for_customer(session, customer_id=cid)
    assert (pending.survey_id, pending.invitation_id, pending.title) == (nps_survey.id, sent.invitations[0].id,
                                                                       "Оцените нас")
    resp = service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": 7},
                                   channel="portal", actor=actor)
    assert service.pending_for_customer(session, customer_id=cid) == []
    assert resp.invitation_id == sent.invitations[0].id and resp.points == 25
    before = _counts(session)
    with pytest.raises(InvalidToken, match="already been used"):
        service.submit_by_token(session, token=_token(sent, cid), answers={"score": 7})
    assert _counts(session) == before
    assert ledger.get_balance(session, cid).available == 25


def test_anonymous_link_has_no_customer_no_points(session, actor, survey_points_rule) -> None:
    survey = service.create_from_template(session, data=FromTemplate(template="nps", anonymous_link=True),
                                          actor=actor)
    assert survey.public_token
    shown = service.open_anonymous(session, public_token=survey.public_token, locale="ru")
    assert shown.title == "Оцените нас"
    resp = service.submit_anonymous(session, public_token=survey.public_token, answers={"score": 6})
    assert (resp.customer_id, resp.points, resp.locale) == (None, 0, "en")
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "survey_completed")) == 0


def test_closed_and_frozen_surveys(session, actor, nps_survey) -> None:
    from loyalist.surveys.schemas import SurveyUpdate

    cid = make_customer(session, actor)
    service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": 9},
                            channel="portal", actor=actor)
    questions = session.get(Survey, nps_survey.id).questions
    with pytest.raises(InvalidState, match="frozen"):
        service.update_survey(session, survey_id=nps_survey.id,
                              data=SurveyUpdate.model_validate({"questions": questions[:1]}), actor=actor)
    assert len(session.get(Survey, nps_survey.id).questions) == 4
    v2 = service.new_version(session, survey_id=nps_survey.id, actor=actor)
    assert (v2.version, v2.previous_id, v2.status, v2.response_count) == (2, nps_survey.id, "active", 0)
    assert service.get_survey(session, nps_survey.id).status == "closed"
    before = _counts(session)
    with pytest.raises(InvalidState, match="closed"):
        service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": 9},
                                channel="portal", actor=actor)
    assert _counts(session) == before


def test_free_text_goes_to_feedback_analysis(session, actor) -> None:
    from loyalist.feedback import service as feedback

    survey = service.create_from_template(session, data=FromTemplate(template="exit_interview"), actor=actor)
    cid = make_customer(session, actor)
    resp = service.submit_response(
        session, survey_id=survey.id, customer_id=cid, channel="phone", actor=actor,
        answers={"reasons": ["price", "competitor_offer"], "details": "Too expensive, the shop nearby is cheaper",
                 "competitor": "Their loyalty card gives 5 percent back"})
    items = {i.source_id: i for i in feedback.list_items(session, customer_id=cid, source_type="survey_answer").items}
    assert set(items) == {f"{resp.id}:details", f"{resp.id}:competitor"}
    details = items[f"{resp.id}:details"]
    assert (details.text, details.channel, details.labels) == (
        "Too expensive, the shop nearby is cheaper", "phone", ["price", "competitor_offer"])
    assert (details.score, details.score_scale) == (None, None)

"""Responses move on merge, are exported, and erasure removes free text but keeps the scores."""

from __future__ import annotations

from sqlalchemy import select

from loyalist.customers import service as customers
from loyalist.surveys import service
from loyalist.surveys.models import SurveyInvitation, SurveyResponse
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer


def test_merge_moves_responses_and_invitations(session, actor, nps_survey) -> None:
    keep, dup = make_customer(session, actor), make_customer(session, actor)
    service.invite(session, survey_id=nps_survey.id, customer_ids=[dup], actor=actor)
    resp = service.submit_response(session, survey_id=nps_survey.id, customer_id=dup, answers={"score": 9},
                                   channel="portal", actor=actor)
    customers.merge_customers(session, survivor_id=keep, duplicate_id=dup, actor=actor)
    assert session.get(SurveyResponse, resp.id).customer_id == keep
    assert {i.customer_id for i in session.scalars(select(SurveyInvitation))} == {keep}
    view = customers.customer_360(session, keep).sections["surveys"]
    assert view["responses"] == 1 and view["last"]["nps_category"] == "promoter"
    assert view["last_surveyed_at"] == resp.submitted_at.isoformat()


def test_export_and_erasure(session, actor) -> None:
    survey = service.create_from_template(session, data=FromTemplate(template="relationship"), actor=actor)
    cid = make_customer(session, actor)
    resp = service.submit_response(session, survey_id=survey.id, customer_id=cid, channel="portal", actor=actor,
                                   answers={"why_buy": "Close to my flat on Elm Street", "needs_met": 4})
    exported = customers.export_customer(session, cid)
    [row] = exported["sections"]["surveys"]["responses"] if "sections" in exported else exported["surveys"][
        "responses"]
    assert row["answers"] == {"why_buy": "Close to my flat on Elm Street", "needs_met": 4}

    customers.erase_customer(session, customer_id=cid, actor=actor)
    stored = session.get(SurveyResponse, resp.id)
    session.refresh(stored)
    assert stored.answers == {"why_buy": "[erased]", "needs_met": 4}
    assert stored.erased_at is not None
    out = service.results(session, survey_id=survey.id)
    assert out.overall.responses == 1

"""`record_answers_bulk` leaves what one `submit_response` per answer leaves (response, consumed
invitation, timeline entry, points event, feedback items, audit row), dated at `submitted_at`,
in a statement count that does not grow with the batch apart from the points events."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.errors import InvalidState, ValidationFailed
from loyalist.events.models import Event
from loyalist.feedback.models import FeedbackItem
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.surveys import service
from loyalist.surveys.models import SurveyInvitation, SurveyResponse
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer

AT = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
ANSWERS = [{"score": 3, "better": "The coffee was cold and the staff rude"}, {"score": 9},
           {"score": 7, "raise": "Sometimes slow at the till"}]


def _facts(session, cid: int) -> dict[str, object]:
    """Everything the answer left for one customer, without ids and record times."""
    resp = session.scalars(select(SurveyResponse).where(SurveyResponse.customer_id == cid)).one()
    timeline = session.scalars(select(Interaction).where(Interaction.customer_id == cid,
                                                         Interaction.source_type == "survey_response")).one()
    points_rows = session.scalars(select(Interaction.summary).where(
        Interaction.customer_id == cid, Interaction.kind == "survey_answer",
        Interaction.source_type != "survey_response")).all()
    texts = session.scalars(select(FeedbackItem).where(FeedbackItem.customer_id == cid)).all()
    events = session.scalars(select(Event).where(Event.customer_id == cid, Event.type == "survey_completed")).all()
    audit_after = session.scalars(select(AuditEntry.after).where(AuditEntry.action == "survey.response",
                                                                 AuditEntry.target_id == str(resp.id))).one()
    invitation = session.scalars(select(SurveyInvitation).where(SurveyInvitation.customer_id == cid)).one_or_none()
    return {
        "response": (resp.answers, resp.nps, resp.locale, resp.channel, resp.tier_code, resp.store, resp.tags,
                     resp.submitted_at, resp.invitation_id is not None),
        "timeline": (timeline.summary, timeline.occurred_at, timeline.channel,
                     {k: v for k, v in timeline.data.items() if k != "response_id"}),
        "texts": sorted((t.text, t.source_id.split(":")[1], t.score, t.score_scale, t.sentiment, t.occurred_at)
                        for t in texts),
        "events": [(e.occurred_at, e.points) for e in events],
        "points timeline": points_rows,
        "audit": {k: v for k, v in audit_after.items() if k not in ("customer_id", "invitation_id")},
        "invitation": None if invitation is None else (invitation.status, invitation.answered_at),
        "balance": ledger.get_balance(session, cid).available,
    }


def test_bulk_equals_one_by_one(session, actor, nps_survey, survey_points_rule) -> None:
    single = [make_customer(session, actor, locale=loc) for loc in ("en", "da", "ru")]
    bulk = [make_customer(session, actor, locale=loc) for loc in ("en", "da", "ru")]
    with clock.frozen_at(AT - timedelta(days=3)):  # the third customer of each group has an open invitation
        service.invite(session, survey_id=nps_survey.id, customer_ids=[single[2], bulk[2]], actor=actor)
    for cid, answers in zip(single, ANSWERS, strict=True):
        with clock.frozen_at(AT):
            service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers=answers,
                                    channel="email", locale="uk" if cid == single[0] else None, actor=actor)
    results = service.record_answers_bulk(session, survey_id=nps_survey.id, actor=actor, items=[
        dict(customer_id=cid, answers=answers, channel="email", locale="uk" if cid == bulk[0] else None,
             submitted_at=AT) for cid, answers in zip(bulk, ANSWERS, strict=True)])
    assert [r.points for r in results] == [25, 25, 25]
    assert results[2].invitation_id is not None
    for one, many in zip(single, bulk, strict=True):
        assert _facts(session, one) == _facts(session, many)
    assert service.get_survey(session, nps_survey.id).response_count == 6


def test_statements_do_not_grow_with_the_batch_but_for_points(session, actor) -> None:
    from loyalist.surveys.schemas import SurveyUpdate

    survey = service.create_from_template(session, data=FromTemplate(template="exit_interview"), actor=actor)
    # no points: each award is an event through the events domain, one by one by design
    service.update_survey(session, survey_id=survey.id, data=SurveyUpdate(award_points=False), actor=actor)
    counts = []
    for n in (3, 30):
        ids = [make_customer(session, actor) for _ in range(n)]
        seen: list[str] = []
        bind = session.connection()

        def listener(_conn, _cursor, statement, *_args, _seen: list[str] = seen) -> None:
            _seen.append(statement)

        event.listen(bind, "before_cursor_execute", listener)
        try:
            service.record_answers_bulk(session, survey_id=survey.id, actor=actor, items=[
                dict(customer_id=cid, channel="phone", answers={"reasons": ["price"], "details": "Too expensive"})
                for cid in ids])
        finally:
            event.remove(bind, "before_cursor_execute", listener)
        counts.append(Counter("INSERT INTO survey_responses" in s for s in seen))
    # only the response inserts may grow (one per row on SQLite, which cannot batch them; no round trip)
    grow = counts[1][False] - counts[0][False]
    assert grow == 0, counts
    feedback_rows = session.scalar(select(func.count()).select_from(FeedbackItem)
                                   .where(FeedbackItem.source_type == "survey_answer"))
    assert feedback_rows == 33


def test_a_bad_item_names_itself_and_writes_nothing(session, actor, nps_survey) -> None:
    good, closed = make_customer(session, actor), make_customer(session, actor)
    from loyalist.customers import service as customers

    customers.merge_customers(session, survivor_id=good, duplicate_id=closed, actor=actor)
    before = session.scalar(select(func.count()).select_from(SurveyResponse))
    with pytest.raises(ValidationFailed) as exc:
        service.record_answers_bulk(session, survey_id=nps_survey.id, actor=actor, items=[
            dict(customer_id=good, channel="email", answers={"score": 9}),
            dict(customer_id=good, channel="email", answers={"score": 11})])
    assert exc.value.field == "items[1].answers.score"
    with pytest.raises(InvalidState) as exc2:
        service.record_answers_bulk(session, survey_id=nps_survey.id, actor=actor, items=[
            dict(customer_id=closed, channel="email", answers={"score": 9})])
    assert exc2.value.field == "items[0].customer_id"
    assert session.scalar(select(func.count()).select_from(SurveyResponse)) == before

"""Invitation lists through the messaging outbox, the fatigue cap, and reminders sent once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.customers import service as customers
from loyalist.errors import ValidationFailed
from loyalist.messaging.models import Message
from loyalist.surveys import jobs, service
from loyalist.surveys.models import SurveyInvitation
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer


def _messages(session, cid: int) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.customer_id == cid,
                                                      Message.source_type == "survey_invitation")
                                .order_by(Message.id)))


def test_invitation_is_queued_in_the_customers_language(session, actor, nps_survey) -> None:
    cid = make_customer(session, actor, locale="ru")
    result = service.invite(session, survey_id=nps_survey.id, customer_ids=[cid, cid], actor=actor)
    assert (result.invited, result.skipped) == (1, {})
    inv = result.invitations[0]
    assert (inv.status, inv.locale, inv.channel, inv.reminder_count) == ("sent", "ru", "email", 0)
    assert inv.expires_at == inv.created_at + timedelta(days=14)
    [msg] = _messages(session, cid)
    assert msg.id == inv.message_id and msg.category == "service" and msg.source_id == str(inv.id)
    assert msg.dedupe_key == f"survey-invitation:{inv.id}"
    assert msg.subject == "Оцените нас: уделите нам минуту?"
    assert result.links[cid] in msg.text_body and "Здравствуйте Ida!" in msg.text_body
    assert result.links[cid].startswith("http://127.0.0.1:8000/v1/public/surveys/i/")


def test_fatigue_cap_across_surveys_records_skips(session, actor, nps_survey) -> None:
    a, b, c = (make_customer(session, actor) for _ in range(3))
    csat = service.create_from_template(session, data=FromTemplate(template="csat_post_purchase"), actor=actor)
    service.invite(session, survey_id=nps_survey.id, customer_ids=[a], actor=actor)
    service.submit_response(session, survey_id=csat.id, customer_id=b, answers={"satisfaction": 4},
                            channel="portal", actor=actor)
    before = {cid: len(_messages(session, cid)) for cid in (a, b, c)}

    result = service.invite(session, survey_id=csat.id, customer_ids=[a, b, c], actor=actor, fatigue_days=30)
    assert (result.invited, result.skipped) == (1, {"fatigue": 2})
    by_customer = {i.customer_id: i for i in result.invitations}
    assert (by_customer[a].status, by_customer[a].skip_reason) == ("skipped", "fatigue")
    assert (by_customer[b].status, by_customer[b].skip_reason) == ("skipped", "fatigue")
    assert by_customer[c].status == "sent"
    assert set(result.links) == {c}
    assert {cid: len(_messages(session, cid)) for cid in (a, b, c)} == {a: before[a], b: before[b], c: 1}

    again = service.invite(session, survey_id=nps_survey.id, customer_ids=[a], actor=actor, fatigue_days=0)
    assert again.skipped == {"already_invited": 1}
    assert service.invitation_stats(session, csat.id).model_dump() == {
        "survey_id": csat.id, "by_status": {"sent": 1, "skipped": 2}, "skipped_by_reason": {"fatigue": 2},
        "response_rate": 0.0}

    with clock.frozen_at(clock.now() + timedelta(days=31)):
        later = service.invite(session, survey_id=csat.id, customer_ids=[a, b], actor=actor, fatigue_days=30)
    assert (later.invited, later.skipped) == (2, {})


def test_inactive_and_unknown_customers(session, actor, nps_survey) -> None:
    gone = make_customer(session, actor)
    customers.erase_customer(session, customer_id=gone, actor=actor)
    result = service.invite(session, survey_id=nps_survey.id, customer_ids=[gone], actor=actor)
    assert result.skipped == {"inactive": 1} and _messages(session, gone) == []
    count = session.scalar(select(func.count()).select_from(SurveyInvitation))
    with pytest.raises(ValidationFailed, match=r"customer_ids: unknown customer\(s\) \[987654321\]") as e:
        service.invite(session, survey_id=nps_survey.id, customer_ids=[gone, 987654321], actor=actor)
    assert e.value.field == "customer_ids"
    assert session.scalar(select(func.count()).select_from(SurveyInvitation)) == count


def test_customer_without_address_is_skipped(session, actor, nps_survey) -> None:
    from loyalist.customers.schemas import CustomerCreate

    cid = customers.create_customer(session, data=CustomerCreate(first_name="No", last_name="Mail"), actor=actor).id
    result = service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor)
    assert (result.invited, result.skipped, result.links) == (0, {"no_address": 1}, {})
    inv = result.invitations[0]
    assert (inv.status, inv.skip_reason) == ("skipped", "no_address")
    [msg] = _messages(session, cid)
    assert (msg.id, msg.status) == (inv.message_id, "skipped")
    # not counted by the fatigue cap: a later invitation with an address on file may go out
    assert service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor).skipped == {
        "no_address": 1}


def test_reminder_goes_once_to_non_responders_only(session, actor, nps_survey) -> None:
    quiet, answered = make_customer(session, actor, locale="da"), make_customer(session, actor)
    sent = service.invite(session, survey_id=nps_survey.id, customer_ids=[quiet, answered], actor=actor)
    service.submit_by_token(session, token=sent.links[answered].rsplit("/", 1)[1], answers={"score": 10})
    t0 = clock.now()

    assert jobs.send_reminders(session, as_of=t0 + timedelta(days=2)).reminded == 0  # not due yet (3 days)
    due = jobs.send_reminders(session, as_of=t0 + timedelta(days=3, minutes=1))
    assert due.invitation_ids == [sent.invitations[0].id]
    assert jobs.send_reminders(session, as_of=t0 + timedelta(days=3, minutes=2)).reminded == 0
    assert jobs.send_reminders(session, as_of=t0 + timedelta(days=9)).reminded == 0  # max_reminders = 1

    msgs = _messages(session, quiet)
    assert [m.dedupe_key for m in msgs] == [f"survey-invitation:{sent.invitations[0].id}",
                                            f"survey-invitation:{sent.invitations[0].id}:reminder:1"]
    assert msgs[1].subject == "En påmindelse: Hvordan klarer vi os?"
    assert len(_messages(session, answered)) == 1
    inv = session.get(SurveyInvitation, sent.invitations[0].id)
    assert inv.reminder_count == 1
    # the reminder carries a link to the same single-use invitation
    link = msgs[1].text_body.split("\n")[3]
    resp = service.submit_by_token(session, token=link.rsplit("/", 1)[1], answers={"score": 8})
    assert resp.invitation_id == inv.id


def test_no_reminder_after_the_link_expired(session, actor, nps_survey) -> None:
    cid = make_customer(session, actor)
    service.invite(session, survey_id=nps_survey.id, customer_ids=[cid], actor=actor)
    assert jobs.send_reminders(session, as_of=clock.now() + timedelta(days=15)).reminded == 0
    from loyalist.worker.jobs import discover_jobs

    assert discover_jobs()["surveys.send_reminders"] == (jobs.send_reminders, 3600)
